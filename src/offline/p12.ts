// PKCS#12 bundles for browsers and keychains, built with pkijs: the key in a shrouded key bag,
// the certificates in an encrypted safe, PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) and a SHA-256
// MAC — what OpenSSL 3 and current browsers read. No password means the empty password, as
// `openssl pkcs12 -passout pass:` writes it.
import { createHash, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import type { x509 } from '../pki/x509.js';

const KEY_BAG = '1.2.840.113549.1.12.10.1.2';
const CERT_BAG = '1.2.840.113549.1.12.10.1.3';
const LOCAL_KEY_ID = '1.2.840.113549.1.9.21';
const FRIENDLY_NAME = '1.2.840.113549.1.9.20';
const ITERATIONS = 100_000;

function schemaOf(der: ArrayBuffer | Uint8Array): asn1js.AsnType {
  const parsed = asn1js.fromBER(der instanceof Uint8Array ? new Uint8Array(der).buffer : der);
  if (parsed.offset === -1) throw new Error('cannot parse DER for the PKCS#12 bundle');
  return parsed.result;
}

/** A PFX holding `key`, its certificate `cert` and any further `chain` certificates. */
export async function buildP12(key: KeyObject, cert: x509.X509Certificate, chain: x509.X509Certificate[], password: string, friendlyName?: string): Promise<Buffer> {
  const keyId = createHash('sha1').update(Buffer.from(cert.rawData)).digest();
  const attrs = () => [
    new pkijs.Attribute({ type: LOCAL_KEY_ID, values: [new asn1js.OctetString({ valueHex: keyId })] }),
    ...(friendlyName ? [new pkijs.Attribute({ type: FRIENDLY_NAME, values: [new asn1js.BmpString({ value: friendlyName })] })] : []),
  ];
  const pkcs8 = new pkijs.PrivateKeyInfo({ schema: schemaOf(key.export({ type: 'pkcs8', format: 'der' })) });
  const certBag = (c: x509.X509Certificate, withAttrs: boolean) => new pkijs.SafeBag({
    bagId: CERT_BAG,
    bagValue: new pkijs.CertBag({ parsedValue: new pkijs.Certificate({ schema: schemaOf(c.rawData) }) }),
    ...(withAttrs ? { bagAttributes: attrs() } : {}),
  });
  const encryption = {
    password: new TextEncoder().encode(password).buffer as ArrayBuffer,
    // The type asks for an iv; pkijs draws a random one per encryption and ignores this.
    contentEncryptionAlgorithm: { name: 'AES-CBC', length: 256, iv: new Uint8Array(16) },
    hmacHashAlgorithm: 'SHA-256',
    iterationCount: ITERATIONS,
  };
  const keyBag = new pkijs.SafeBag({ bagId: KEY_BAG, bagValue: new pkijs.PKCS8ShroudedKeyBag({ parsedValue: pkcs8 }), bagAttributes: attrs() });
  const pfx = new pkijs.PFX({
    parsedValue: {
      integrityMode: 0,
      authenticatedSafe: new pkijs.AuthenticatedSafe({
        parsedValue: {
          safeContents: [
            { privacyMode: 0, value: new pkijs.SafeContents({ safeBags: [keyBag] }) },
            { privacyMode: 1, value: new pkijs.SafeContents({ safeBags: [certBag(cert, true), ...chain.map((c) => certBag(c, false))] }) },
          ],
        },
      }),
    },
  });
  await (keyBag.bagValue as pkijs.PKCS8ShroudedKeyBag).makeInternalValues(encryption);
  await pfx.parsedValue!.authenticatedSafe!.makeInternalValues({ safeContents: [{}, encryption] });
  await pfx.makeInternalValues({ password: encryption.password, iterations: ITERATIONS, pbkdf2HashAlgorithm: 'SHA-256', hmacHashAlgorithm: 'SHA-256' });
  return Buffer.from(pfx.toSchema().toBER(false));
}
