// Client defaults (HOME/config/defaults.json, written by bootstrap) and how flags override them.
import { readTextExplained } from '../util/read-file.js';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CliError } from '../cli/common.js';
import { layout } from '../config/layout.js';

/** step's defaults.json keys; unknown keys (team bootstrap extras) are kept as they are. */
export interface ClientDefaults {
  'ca-url'?: string;
  fingerprint?: string;
  root?: string;
  [key: string]: unknown;
}

/** HOME/config/defaults.json, or `configFile` (--config) instead. */
export function readDefaults(home: string, configFile?: string): ClientDefaults {
  const file = configFile ? resolve(configFile) : layout(home).defaults;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !configFile) return {};
    throw new CliError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError(`${file} is not valid JSON`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new CliError(`${file} must hold a JSON object`);
  for (const k of ['ca-url', 'fingerprint', 'root'] as const) {
    const v = (parsed as ClientDefaults)[k];
    if (v !== undefined && typeof v !== 'string') throw new CliError(`${file}: "${k}" must be a string`);
  }
  return parsed as ClientDefaults;
}

/** The file's text: step's key order, two-space indent, trailing newline. */
export function defaultsJson(d: ClientDefaults): string {
  return `${JSON.stringify(d, null, 2)}\n`;
}

export interface ClientFlags {
  home: string;
  caUrl?: string;
  root?: string;
  /** --config: a defaults.json-style file read instead of the home's. */
  config?: string;
}

/** The CA URL from --ca-url, else defaults.json; undefined when neither has one. */
export function findCaUrl(flags: ClientFlags, defaults = readDefaults(flags.home, flags.config)): string | undefined {
  return flags.caUrl ?? defaults['ca-url'];
}

export function requireCaUrl(flags: ClientFlags, defaults = readDefaults(flags.home, flags.config)): string {
  const url = findCaUrl(flags, defaults);
  if (!url) throw new CliError('no CA URL: pass --ca-url or run `stepstone ca bootstrap` first');
  return url;
}

/** The root file from --root, else defaults.json, else HOME/certs/root_ca.crt if it exists. */
export function findRootFile(flags: ClientFlags, defaults = readDefaults(flags.home, flags.config)): string | undefined {
  if (flags.root) return resolve(flags.root);
  if (defaults.root) return resolve(flags.home, defaults.root);
  const fallback = layout(flags.home).rootCert;
  return existsSync(fallback) ? fallback : undefined;
}

export function readRootPem(file: string): string {
  const pem = readTextExplained(file, 'root certificate');
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new CliError(`${file} holds no PEM certificate`);
  return pem;
}

export interface ResolvedCa {
  caUrl: string;
  rootFile: string;
  rootPem: string;
}

/** What most commands need: a CA URL and the root to trust it with; a clear error otherwise. */
export function resolveCa(flags: ClientFlags): ResolvedCa {
  const defaults = readDefaults(flags.home, flags.config);
  const caUrl = requireCaUrl(flags, defaults);
  const rootFile = findRootFile(flags, defaults);
  if (!rootFile) throw new CliError('no root certificate: pass --root or run `stepstone ca bootstrap` first');
  return { caUrl, rootFile, rootPem: readRootPem(rootFile) };
}
