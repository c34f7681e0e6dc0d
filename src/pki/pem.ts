import { x509 } from './x509.js';

/**
 * PEM with a trailing newline (x509's PEM has none, and chains are concatenated). Every issuance
 * encodes its certificate here, and x509.PemConverter builds its base64 from a string grown one
 * character per byte: 19 KB of garbage for a 700-byte certificate, the largest allocation of a
 * /sign (bench/alloc-prof.mjs). Node's native base64 gives the same text in one step; the
 * differential test in test/unit/pem.test.ts holds it to PemConverter's output.
 */
export function toPem(der: ArrayBuffer | Uint8Array, label: string): string {
  const bytes = der instanceof ArrayBuffer ? Buffer.from(der) : Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  const base64 = bytes.toString('base64');
  const type = label.toLocaleUpperCase();
  const lines = [`-----BEGIN ${type}-----`];
  for (let i = 0; i < base64.length; i += 64) lines.push(base64.slice(i, i + 64));
  lines.push(`-----END ${type}-----`, '');
  return lines.join('\n');
}

/** A standalone ArrayBuffer holding exactly these bytes (Buffers may share a larger pool). */
export function toArrayBuffer(der: ArrayBuffer | Uint8Array): ArrayBuffer {
  if (der instanceof ArrayBuffer) return der;
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer;
}

export function certToPem(cert: x509.X509Certificate): string {
  return toPem(cert.rawData, 'CERTIFICATE');
}

/** Every PEM block of one label in `text`, as DER. */
export function pemBlocks(text: string, label: string): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]*?)-----END ${label}-----`, 'g');
  for (const m of text.matchAll(re)) out.push(toArrayBuffer(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')));
  return out;
}

export function parseCertificates(text: string): x509.X509Certificate[] {
  return pemBlocks(text, 'CERTIFICATE').map((der) => new x509.X509Certificate(der));
}
