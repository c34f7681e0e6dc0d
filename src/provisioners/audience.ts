// Which `aud` values a token may carry for an operation (api.md §2.1): https://<dnsName>/[1.0/]op
// for each of our names, compared as plain strings, with the port ignored on both sides.
import { isIP } from 'node:net';

export type Operation = 'sign' | 'revoke' | 'renew';

/** The legacy audience step still accepts for sign and revoke. */
const LEGACY = 'step-certificate-authority';

// Both are asked for on every token, always for the config's same names array (a reload brings a
// new one), so each list and its lookup sets are built once per array: this was 5 % of what a
// /sign allocated (bench/alloc-prof.mjs).
const lists = new WeakMap<readonly string[], Map<Operation, readonly string[]>>();
const lookups = new WeakMap<readonly string[], { exact: Set<string>; stripped: Set<string> }>();

export function allowedAudiences(dnsNames: readonly string[], op: Operation): readonly string[] {
  let byOp = lists.get(dnsNames);
  if (!byOp) lists.set(dnsNames, (byOp = new Map()));
  let out = byOp.get(op);
  if (!out) byOp.set(op, (out = Object.freeze(buildAudiences(dnsNames, op))));
  return out;
}

function buildAudiences(dnsNames: readonly string[], op: Operation): string[] {
  const paths = op === 'sign' ? ['/1.0/sign', '/sign', '/1.0/ssh/sign', '/ssh/sign'] : op === 'revoke' ? ['/1.0/revoke', '/revoke'] : ['/1.0/renew', '/renew'];
  const out: string[] = [];
  for (const name of dnsNames) {
    const host = isIP(name) === 6 ? `[${name}]` : name;
    for (const p of paths) out.push(`https://${host}${p}`);
  }
  if (op !== 'renew') out.push(LEGACY);
  return out;
}

/** Lower-cases a URL's scheme, as Go's url.Parse does; other strings pass unchanged. */
function normalizeScheme(aud: string): string {
  return aud.replace(/^[a-z][a-z0-9+.-]*:/i, (s) => s.toLowerCase());
}

/** Removes an explicit port from an http(s) URL's authority; other strings pass unchanged. */
export function stripPort(aud: string): string {
  const m = /^(https?:\/\/)(\[[^\]]*\]|[^/:?#]*)(:\d*)?(.*)$/i.exec(aud);
  return m ? `${m[1]}${m[2]}${m[4]}` : aud;
}

/** True when any token audience equals an allowed one, before or after stripping ports. */
export function audienceMatches(tokenAud: string | string[] | undefined, allowed: readonly string[]): boolean {
  const auds = tokenAud === undefined ? [] : Array.isArray(tokenAud) ? tokenAud : [tokenAud];
  let sets = lookups.get(allowed);
  if (!sets) lookups.set(allowed, (sets = { exact: new Set(allowed), stripped: new Set(allowed.map(stripPort)) }));
  const { exact, stripped } = sets;
  return auds.some((a) => {
    if (typeof a !== 'string') return false;
    const n = normalizeScheme(a);
    return exact.has(n) || stripped.has(stripPort(n));
  });
}
