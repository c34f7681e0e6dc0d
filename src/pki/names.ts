import { isIP } from 'node:net';

export type SanType = 'dns' | 'ip' | 'email' | 'url';
export interface San { type: SanType; value: string }

/**
 * step's rule for a token SAN string: an IP if it parses as one, a URI if it has a scheme,
 * an email if it has '@', otherwise a DNS name.
 */
export function classifySan(value: string): San {
  if (isIP(value)) return { type: 'ip', value };
  // Go's url.Parse finds a scheme when [a-z][a-z0-9+.-]* is followed by ':'.
  if (/^[a-z][a-z0-9+.-]*:/i.test(value)) return { type: 'url', value };
  if (value.includes('@')) return { type: 'email', value };
  return { type: 'dns', value };
}

const ORDER: SanType[] = ['dns', 'ip', 'email', 'url'];

/** SANs in the order step-ca encodes them: DNS, IP, email, URI. */
export function orderSans(sans: San[]): San[] {
  return ORDER.flatMap((t) => sans.filter((s) => s.type === t));
}

/** Canonical text of an IP so "::1" and "0:0::1" compare equal. */
export function canonicalIp(ip: string): string {
  if (isIP(ip) === 4) return ip.split('.').map((o) => String(Number(o))).join('.');
  const [head = '', tail = ''] = ip.includes('::') ? ip.split('::') : [ip, ''];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return groups.map((g) => parseInt(g, 16).toString(16)).join(':');
}
