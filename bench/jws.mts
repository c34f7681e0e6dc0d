// CPU of one ES256 token verification: jose with a CryptoKey, jose with a KeyObject, and the
// node:crypto floor.
import { generateKeyPairSync, verify, KeyObject, webcrypto } from 'node:crypto';
import * as jose from 'jose';
const cpu = () => { const u = process.cpuUsage(); return u.user + u.system; };
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const tokens = await Promise.all(Array.from({ length: 3000 }, (_, i) => new jose.SignJWT({ sub: `h${i}`, sans: [`h${i}`] }).setProtectedHeader({ alg: 'ES256', kid: 'k' }).setIssuer('admin').setAudience('https://localhost/1.0/sign').setExpirationTime('5m').setJti(String(i)).sign(privateKey)));
const ck = await webcrypto.subtle.importKey('jwk', publicKey.export({ format: 'jwk' }), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
async function time(name: string, f: (t: string) => unknown, par = 16) {
  for (const t of tokens.slice(0, 300)) await f(t);
  const c0 = cpu();
  for (let i = 0; i < tokens.length; i += par) await Promise.all(tokens.slice(i, i + par).map(f));
  console.log(name.padEnd(28), ((cpu() - c0) / tokens.length).toFixed(1), 'us');
}
await time('jose CryptoKey', (t) => jose.compactVerify(t, ck, { algorithms: ['ES256'] }));
await time('jose KeyObject', (t) => jose.compactVerify(t, publicKey as never, { algorithms: ['ES256'] }));
await time('node verify (ieee-p1363)', (t) => { const [h, p, s] = t.split('.'); return verify('sha256', Buffer.from(`${h}.${p}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(s!, 'base64url')); });
await time('decodeJwt+header', (t) => [jose.decodeJwt(t), jose.decodeProtectedHeader(t)]);
