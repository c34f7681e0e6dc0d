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

/**
 * An IP as Go's net.IP.String() prints it, so "::1" and "0:0::1" compare equal and an
 * IPv4-mapped IPv6 address is its IPv4 address (Go also encodes it in 4 bytes in a certificate).
 * The WHATWG URL parser does the IPv6 parsing and RFC 5952 compression.
 */
export function canonicalIp(ip: string): string {
  if (isIP(ip) === 4) return new URL(`http://${ip}/`).hostname;
  const v6 = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6);
  if (!mapped) return v6;
  const hi = parseInt(mapped[1]!, 16);
  const lo = parseInt(mapped[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}
