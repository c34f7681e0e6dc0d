import { createHash } from 'node:crypto';

/** Lower-case hex SHA-256 of a certificate's DER: the fingerprint step uses everywhere. */
export function sha256Hex(der: ArrayBuffer | Uint8Array): string {
  return createHash('sha256').update(der instanceof Uint8Array ? der : new Uint8Array(der)).digest('hex');
}

/** step-ca's normalisation of a fingerprint in a URL: lower case, dashes removed (not colons). */
export function normalizeFingerprint(fp: string): string {
  return fp.trim().toLowerCase().replace(/-/g, '');
}
