// The one SubjectPublicKeyInfo shape per key type that every verifier reads. The CA copies a CSR's
// key into the certificate byte for byte, so a key spelled any other way (explicit EC curve
// parameters, RSA without its NULL parameters, a compressed point) would make a certificate that
// `openssl verify -x509_strict` and Go's crypto/x509 refuse. The shapes: RFC 5480 (EC, named
// curve only), RFC 3279 (rsaEncryption with NULL), RFC 8410 (Ed25519, no parameters).
import type { KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { oid } from './der.js';

const EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
const ED25519 = '1.3.101.112';
const NAMED_CURVES = ['1.2.840.10045.3.1.7', '1.3.132.0.34', '1.3.132.0.35'].map((c) => oid(c));

/** Why `spki` is not the canonical encoding of a key we accept, or null when it is (or is of another kind). */
export function spkiProblem(spki: ArrayBuffer | Uint8Array): string | null {
  const bytes = Buffer.from(spki instanceof ArrayBuffer ? new Uint8Array(spki) : spki);
  let info: SubjectPublicKeyInfo;
  try {
    info = AsnConvert.parse(bytes, SubjectPublicKeyInfo);
  } catch {
    return 'the public key is not a SubjectPublicKeyInfo';
  }
  if (!Buffer.from(AsnConvert.serialize(info)).equals(bytes)) return 'the public key is not in DER (or has bytes after it)';
  const params = info.algorithm.parameters;
  switch (info.algorithm.algorithm) {
    case EC_PUBLIC_KEY: {
      const p = params ? Buffer.from(params) : null;
      if (p?.[0] === 0x30) return 'the EC public key has explicit curve parameters; only a named curve (P-256, P-384 or P-521 by OID) is accepted';
      if (!p || !NAMED_CURVES.some((c) => c.equals(p))) return 'the EC public key does not name P-256, P-384 or P-521 by OID';
      const point = new Uint8Array(info.subjectPublicKey);
      if (point[0] !== 0x04) return 'the EC public key point is not in uncompressed form';
      return null;
    }
    case RSA_ENCRYPTION:
      // @peculiar's schema reads an encoded NULL as null and an absent parameter as undefined.
      if (params === undefined) return 'the RSA public key lacks the NULL algorithm parameters (RFC 3279)';
      if (params !== null) return 'the RSA public key has algorithm parameters other than NULL';
      return null;
    case ED25519:
      if (params !== undefined) return 'the Ed25519 public key has algorithm parameters (RFC 8410 forbids them)';
      return null;
    default:
      return null;
  }
}

/** Why `spki`, already imported as `key`, is not exactly how that key is canonically written. */
export function notCanonicalAs(spki: ArrayBuffer | Uint8Array, key: KeyObject): string | null {
  const bytes = spki instanceof ArrayBuffer ? new Uint8Array(spki) : spki;
  return Buffer.from(key.export({ type: 'spki', format: 'der' })).equals(bytes) ? null : 'the public key is not in its canonical encoding';
}
