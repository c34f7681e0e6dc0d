import { readTextExplained } from '../util/read-file.js';
import { dirname, isAbsolute, resolve } from 'node:path';
import { caConfigSchema, type CaConfig } from './schema.js';

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

/** Reads and validates ca.json; every problem names the field and why. */
export function loadConfig(configPath: string): LoadedConfig {
  const text = readTextExplained(configPath, 'config');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`config ${configPath} is not valid JSON: ${(e as Error).message}`);
  }
  const parsed = caConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.length ? issue.path.join('.') : '(top level)';
    throw new Error(`config ${configPath}: ${field}: ${issue.message}`);
  }
  const home = homeOfConfig(configPath);
  return { config: parsed.data, path: configPath, resolvePath: (p) => (isAbsolute(p) ? p : resolve(home, p)) };
}
