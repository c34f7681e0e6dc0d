import { x509 } from './x509.js';

/** PEM with a trailing newline (x509's PEM has none, and chains are concatenated). */
export function toPem(der: ArrayBuffer | Uint8Array, label: string): string {
  return `${x509.PemConverter.encode(toArrayBuffer(der), label)}\n`;
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
