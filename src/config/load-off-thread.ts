// loadConfig for the long-lived server: the same checks and the same errors, run on a thread that
// ends when it has answered. zod and the schemas it builds are ~4 MiB of the server's live heap
// when loaded in the process (bench/README.md, issue 18's fifth round), and the server needs them
// only at start and on reload.
import type { CaConfig } from './schema.js';
import { loadedConfig, type LoadedConfig } from './loaded.js';
import { runOnce } from '../util/worker.js';

export async function loadConfigOffThread(configPath: string): Promise<LoadedConfig> {
  const config = await runOnce<CaConfig>('./load-worker', import.meta.url, { path: configPath });
  return loadedConfig(config, configPath);
}
