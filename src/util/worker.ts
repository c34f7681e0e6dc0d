// Starts one of our worker_threads modules from where this build runs: the compiled dist/ (the
// CLI), or the TypeScript source under tsx (tests, bench).
import { Worker } from 'node:worker_threads';

/** `base` is the module's URL without extension, relative to `from` (a caller's import.meta.url). */
export function startWorker(base: string, from: string, workerData?: unknown): Worker {
  if (!from.endsWith('.ts')) return new Worker(new URL(`${base}.js`, from), { workerData });
  // Node 20 does not carry `--import tsx` into a worker's module loader, so the worker registers
  // tsx itself before it imports the source.
  const target = JSON.stringify(new URL(`${base}.ts`, from).href);
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${target}); })`;
  return new Worker(boot, { eval: true, workerData });
}
