// Private keys encrypted at rest: PKCS#8 EncryptedPrivateKeyInfo with PBES2 (PBKDF2-HMAC-SHA256,
// 600 000 iterations, AES-256-CBC), built by pkijs. Node's own export only offers OpenSSL's
// default of 2048 iterations, too few for a CA key facing offline guessing. OpenSSL, Node and
// Go's pemutil all read the result; Node decrypts it (createPrivateKey) without pkijs.
// pkijs is imported when a key is first encrypted (init, the CLI's key commands): a serving CA
// that only decrypts its keys never loads it (about 2 MiB of heap; bench/README.md, issue 18).
import { webcrypto, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import type * as Pkijs from 'pkijs';
import { toPem } from './pem.js';

export const PBKDF2_ITERATIONS = 600_000;

let loaded: Promise<typeof Pkijs> | undefined;
function pkijsWithEngine(): Promise<typeof Pkijs> {
  loaded ??= import('pkijs').then((pkijs) => {
    pkijs.setEngine('node', new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as unknown as Crypto }));
    return pkijs;
  });
  return loaded;
}

export async function encryptPrivateKey(key: KeyObject, password: string, iterations = PBKDF2_ITERATIONS): Promise<string> {
  if (!password) throw new Error('refusing to encrypt a key with an empty password');
  const pkijs = await pkijsWithEngine();
  const der = key.export({ type: 'pkcs8', format: 'der' });
  const bag = new pkijs.PKCS8ShroudedKeyBag({ parsedValue: pkijs.PrivateKeyInfo.fromBER(new Uint8Array(der).buffer as ArrayBuffer) });
  await bag.makeInternalValues({
    password: new TextEncoder().encode(password).buffer as ArrayBuffer,
    // The type asks for an iv, but pkijs draws a fresh random IV (and salt) itself and ignores this one.
    contentEncryptionAlgorithm: { name: 'AES-CBC', length: 256, iv: new Uint8Array(16) },
    hmacHashAlgorithm: 'SHA-256',
    iterationCount: iterations,
  });
  // pkijs emits the ciphertext as a BER constructed OCTET STRING; DER (primitive) is what
  // strict parsers such as Go's encoding/asn1 accept.
  const info = new pkijs.PKCS8ShroudedKeyBag({
    encryptionAlgorithm: bag.encryptionAlgorithm,
    encryptedData: new asn1js.OctetString({ valueHex: bag.encryptedData.getValue() }),
  });
  return toPem(info.toSchema().toBER(), 'ENCRYPTED PRIVATE KEY');
}
