// A validated ca.json and where it came from: what load.ts (in this thread) and
// load-off-thread.ts (on a short-lived one) both hand back. No zod here.
import { dirname, isAbsolute, resolve } from 'node:path';
import type { CaConfig } from './schema.js';

export interface LoadedConfig {
  config: CaConfig;
  /** The file it came from. */
  path: string;
  /** Resolves a path from the config: relative paths are relative to the CA home. */
  resolvePath(p: string): string;
}

/** The CA home for a config path: step lays ca.json out as HOME/config/ca.json. */
export function homeOfConfig(configPath: string): string {
  const dir = dirname(resolve(configPath));
  return dir.endsWith('/config') ? dirname(dir) : dir;
}

export function loadedConfig(config: CaConfig, configPath: string): LoadedConfig {
  const home = homeOfConfig(configPath);
  return { config, path: configPath, resolvePath: (p) => (isAbsolute(p) ? p : resolve(home, p)) };
}
