// What ACME requests may contain beyond their JWS: contacts, times, and a CSR's names against
// its order's identifiers (RFC 8555 §7.3, §7.4).
import type { AcmeOrder } from '../ledger/acme-store.js';
import type { ParsedCsr } from '../pki/csr.js';
import { canonicalIp, classifySan } from '../pki/names.js';
import { key as idKey } from './identifiers.js';
import { AcmeProblem, malformed } from './problem.js';

export function optionalTime(v: unknown, field: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) throw malformed(`${field} must be an RFC 3339 time`);
  return new Date(Date.parse(v)).toISOString();
}

export function checkContacts(raw: unknown): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || raw.length > 10) throw new AcmeProblem('invalidContact', 'contact must be an array of at most 10 mailto: URLs');
  return raw.map((c) => {
    if (typeof c !== 'string') throw new AcmeProblem('invalidContact', 'each contact must be a string');
    if (!c.startsWith('mailto:')) throw new AcmeProblem('unsupportedContact', `only mailto: contacts are supported, not ${JSON.stringify(c.slice(0, 40))}`);
    const addr = c.slice(7);
    if (c.length > 320 || addr.includes(',') || addr.includes('?') || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(addr)) throw new AcmeProblem('invalidContact', `${JSON.stringify(c.slice(0, 80))} is not a single email address`);
    return c;
  });
}

/** RFC 8555 §7.4: the CSR asks for exactly the order's identifiers (CN, when set, among them). */
export function checkCsrMatchesOrder(csr: ParsedCsr, o: AcmeOrder): void {
  if (csr.sans.email.length || csr.sans.url.length) throw new AcmeProblem('badCSR', 'the CSR may only name DNS names and IP addresses');
  const asked = new Set<string>();
  for (const d of csr.sans.dns) asked.add(`dns:${d.toLowerCase()}`);
  for (const ip of csr.sans.ip) asked.add(`ip:${canonicalIp(ip)}`);
  if (csr.commonName) {
    const c = classifySan(csr.commonName);
    asked.add(c.type === 'ip' ? `ip:${canonicalIp(c.value)}` : `dns:${csr.commonName.toLowerCase()}`);
  }
  const want = new Set(o.identifiers.map(idKey));
  const extra = [...asked].filter((k) => !want.has(k));
  const missing = [...want].filter((k) => !asked.has(k));
  if (extra.length || missing.length) {
    throw new AcmeProblem('badCSR', `the CSR's names must be the order's identifiers${extra.length ? `; not in the order: ${extra.join(', ')}` : ''}${missing.length ? `; missing: ${missing.join(', ')}` : ''}`);
  }
}
