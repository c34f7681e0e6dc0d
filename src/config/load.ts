import { readTextExplained } from '../util/read-file.js';
import { caConfigSchema } from './schema.js';
import { loadedConfig, type LoadedConfig } from './loaded.js';

export { homeOfConfig, type LoadedConfig } from './loaded.js';

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
  return loadedConfig(parsed.data, configPath);
}
