// A CRL signed by the root. Relying parties that check the whole chain (nginx's ssl_crl turns on
// OpenSSL's CRL_CHECK_ALL) need one for the intermediate too. The root key never lives on the
// running CA, so this is an offline step: long-lived, and empty until an intermediate is revoked.
import { readTextExplained } from '../util/read-file.js';
import { readFileSync } from 'node:fs';
import { loadConfig } from '../config/load.js';
import { layout } from '../config/layout.js';
import { loadPrivateKey } from '../pki/keys.js';
import { parseCertificates, toPem } from '../pki/pem.js';
import { buildCrl } from './crl.js';
import { makeIssuer } from './profiles.js';

export interface RootCrl { der: Buffer; pem: string; number: number; nextUpdate: Date }

export async function signRootCrl(o: { home: string; password: string; validForMs: number; now?: Date }): Promise<RootCrl> {
  const l = layout(o.home);
  const { config, resolvePath } = loadConfig(l.caConfig);
  const rootPath = resolvePath(Array.isArray(config.root) ? config.root[0]! : config.root);
  const root = parseCertificates(readFileSync(rootPath, 'utf8'))[0];
  if (!root) throw new Error(`${rootPath} holds no certificate`);
  const keyPem = readTextExplained(l.rootKey, 'the root key');
  const issuer = await makeIssuer(root, loadPrivateKey(keyPem, o.password));
  const now = new Date(Math.floor((o.now ?? new Date()).getTime() / 1000) * 1000);
  // Seconds since the epoch: increases from one offline signing to the next without any state.
  const number = Math.floor(now.getTime() / 1000);
  const nextUpdate = new Date(now.getTime() + o.validForMs);
  const der = await buildCrl({ issuer, number, thisUpdate: now, nextUpdate, entries: [] });
  return { der, pem: toPem(der, 'X509 CRL'), number, nextUpdate };
}
