// A stand-in server for bench/floor.ts: the same stack as `stepstone serve` (fastify over Node's
// HTTPS, P-256 serving key, client certificates asked for, the same body schema) doing only
// part of a /sign, to show what the stack and the cryptography cost before the CA does anything.
//   FLOOR_MODE=http    parse and validate the JSON body, answer 201 with a response of /sign's size
//   FLOOR_MODE=crypto  the same, plus /sign's cryptography through Stepstone's own fast paths: the
//                      CSR's key imported and its signature verified, the token's signature
//                      verified, and one signature made (both on libuv's pool, as the CA does)
//   FLOOR_MODE=crypto-sync  the same cryptography on the event loop
// Usage: node --import tsx bench/floor-server.ts PORT CA_CONFIG SERVING_CERT SERVING_KEY
import { generateKeyPairSync, KeyObject, sign, verify, webcrypto } from 'node:crypto';
import { readCsrFast } from '../src/pki/csr-fast.ts';
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { parseCsr } from '../src/pki/csr.ts';
import { fastJwsKey, verifiedFast } from '../src/provisioners/jws-fast.ts';

const [port, configPath, servingCertFile, servingKeyFile] = process.argv.slice(2) as [string, string, string, string];
const mode = process.env.FLOOR_MODE ?? 'http';
const config = JSON.parse(readFileSync(configPath, 'utf8')) as { authority: { provisioners: { key: import('jose').JWK }[] } };
const pub = config.authority.provisioners[0]!.key;
const tokenKey = fastJwsKey(pub, pub.alg ?? 'ES256');
if (!tokenKey) throw new Error('floor-server: the provisioner key has no fast path');

const keyPem = readFileSync(servingKeyFile, 'utf8');
const pem = readFileSync(servingCertFile, 'utf8');
const signer = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const tbs = Buffer.alloc(560, 1); // about a leaf's TBSCertificate

// /sign's answer is ~2.4 KB: the leaf and the intermediate twice (crt/ca and certChain) and tlsOptions.
const answer = `${JSON.stringify({ crt: pem, ca: pem, certChain: [pem, pem], tlsOptions: { cipherSuites: ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'], minVersion: 1.2, maxVersion: 1.3, renegotiation: false } })}\n`;

const app = Fastify({
  logger: false,
  https: { key: keyPem, cert: pem, minVersion: 'TLSv1.2', requestCert: true, rejectUnauthorized: false },
  bodyLimit: 65536,
  keepAliveTimeout: 30_000,
});
const body = { type: 'object', properties: { csr: { type: 'string', maxLength: 32768 }, ott: { type: 'string', maxLength: 16384 } } } as const;
app.get('/health', async () => ({ status: 'ok' }));
app.post<{ Body: { csr?: string; ott?: string } }>('/1.0/sign', { schema: { body } }, async (req, reply) => {
  if (mode === 'crypto-sync') {
    // The same work on the event loop, for comparison: key import, two verifications, one signature.
    const der = Buffer.from((req.body.csr ?? '').replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const parts = readCsrFast(new Uint8Array(der));
    if (!parts?.ec) throw new Error('floor-server: not a plain EC CSR');
    const key = KeyObject.from(await webcrypto.subtle.importKey('raw', parts.ec.point, { name: 'ECDSA', namedCurve: parts.ec.crv }, false, ['verify']));
    if (!verify(parts.algorithm.kind === 'ecdsa' ? parts.algorithm.hash : 'sha256', parts.tbs, key, parts.signature)) throw new Error('bad csr');
    const [h, p, sg] = (req.body.ott ?? '').split('.') as [string, string, string];
    if (!verify('sha256', Buffer.from(`${h}.${p}`), { key: tokenKey.key, dsaEncoding: 'ieee-p1363' }, Buffer.from(sg, 'base64url'))) throw new Error('bad token');
    sign('sha256', tbs, signer);
  }
  if (mode === 'crypto') {
    await parseCsr(req.body.csr ?? '');
    if (!(await verifiedFast(req.body.ott ?? '', tokenKey))) return reply.code(401).send({ status: 401, message: 'bad token' });
    await new Promise((resolve, reject) => sign('sha256', tbs, signer, (err, sig) => (err ? reject(err) : resolve(sig))));
  }
  return reply.code(201).type('application/json').send(answer);
});
await app.listen({ host: '127.0.0.1', port: Number(port) });
