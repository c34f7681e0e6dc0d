import { createPublicKey, generateKeyPairSync, KeyObject, verify, sign, webcrypto } from 'node:crypto';
const cpu = () => { const u = process.cpuUsage(); return u.user + u.system; };
const keys = Array.from({ length: 2000 }, () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
const ders = keys.map((k) => k.export({ format: 'der', type: 'spki' }));
const jwks = keys.map((k) => k.export({ format: 'jwk' }));
function time(name: string, f: (i: number) => unknown) {
  for (let i = 0; i < 300; i++) f(i);
  const c0 = cpu();
  for (let i = 0; i < ders.length; i++) f(i);
  console.log(name.padEnd(24), ((cpu() - c0) / ders.length).toFixed(1), 'us');
}
time('createPublicKey der', (i) => createPublicKey({ key: ders[i]!, format: 'der', type: 'spki' }));
time('createPublicKey jwk', (i) => createPublicKey({ key: jwks[i]!, format: 'jwk' }));
time('x,y from der + jwk', (i) => { const d = ders[i]!; const x = d.subarray(27, 59).toString('base64url'); const y = d.subarray(59, 91).toString('base64url'); return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x, y }, format: 'jwk' }); });
const k2 = createPublicKey({ key: jwks[0]!, format: 'jwk' });
time('asymmetricKeyDetails', (i) => createPublicKey({ key: jwks[i]!, format: 'jwk' }).asymmetricKeyDetails);
const priv = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const data = Buffer.alloc(300, 1); const sig = sign('sha256', data, priv.privateKey);
time('verify', () => verify('sha256', data, priv.publicKey, sig));
time('sign', () => sign('sha256', data, priv.privateKey));
const rsa = Array.from({ length: 50 }, () => generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'der', type: 'spki' }));
time('rsa createPublicKey der', (i) => createPublicKey({ key: rsa[i % 50]!, format: 'der', type: 'spki' }));

// A CSR's key is used once: what its import and its one verification cost together, per path.
{
  const pairs = Array.from({ length: 2000 }, () => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  const sigs = pairs.map((p) => sign('sha256', data, p.privateKey));
  const points = pairs.map((p) => p.publicKey.export({ format: 'der', type: 'spki' }).subarray(26));
  const xy = points.map((p) => ({ x: p.subarray(1, 33).toString('base64url'), y: p.subarray(33).toString('base64url') }));
  const alg = { name: 'ECDSA', namedCurve: 'P-256' };
  async function timeAsync(name: string, f: (i: number) => Promise<unknown>) {
    for (let i = 0; i < 300; i++) await f(i);
    const c0 = cpu();
    for (let i = 0; i < pairs.length; i++) await f(i);
    console.log(name.padEnd(24), ((cpu() - c0) / pairs.length).toFixed(1), 'us');
  }
  for (let round = 0; round < 2; round++) {
    await timeAsync('jwk import + verify', async (i) => verify('sha256', data, createPublicKey({ key: { kty: 'EC', crv: 'P-256', ...xy[i]! }, format: 'jwk' }), sigs[i]!));
    await timeAsync('raw import + verify', async (i) => verify('sha256', data, KeyObject.from(await webcrypto.subtle.importKey('raw', points[i]!, alg, false, ['verify'])), sigs[i]!));
    await timeAsync('der import + verify', async (i) => verify('sha256', data, createPublicKey({ key: pairs[i]!.publicKey.export({ format: 'der', type: 'spki' }), format: 'der', type: 'spki' }), sigs[i]!));
  }
}
