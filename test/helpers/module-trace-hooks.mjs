// The resolve hook module-trace.mjs registers (it runs on node's loader thread).
import { appendFileSync } from 'node:fs';

let out = '';
export function initialize(data) {
  out = data.out;
}

export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(out, `${JSON.stringify([context.parentURL ?? null, r.url])}\n`);
  return r;
}
