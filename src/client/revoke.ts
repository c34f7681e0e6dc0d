// `ca revoke` (api.md §1.13): POST /revoke authorised by a one-time token (given, or minted from
// the provisioner password) or by mTLS with the very certificate being revoked. The serial and
// reason helpers are shared with `ledger`, so x509 and JOSE are only loaded when revoking.
import { normalizeSerial, serialToDecimal } from '../pki/serial.js';
import { CliError } from '../cli/common.js';
import { resolveCa, type ClientFlags } from './defaults.js';
import { CaClient } from './http.js';

/** RFC 5280 CRLReason names by number; 7 is unassigned. */
export const REASON_NAMES: Readonly<Record<number, string>> = {
  0: 'unspecified',
  1: 'keyCompromise',
  2: 'cACompromise',
  3: 'affiliationChanged',
  4: 'superseded',
  5: 'cessationOfOperation',
  6: 'certificateHold',
  8: 'removeFromCRL',
  9: 'privilegeWithdrawn',
  10: 'aACompromise',
};

export function reasonName(code: number | null | undefined): string {
  if (code === null || code === undefined) return '';
  return REASON_NAMES[code] ?? `reason ${code}`;
}

/**
 * --reason-code as a number 0–10 or an RFC 5280 name in any case (step lower-cases the names it
 * accepts). 7 passes as a number because the server accepts it (api.md §1.13).
 */
export function parseReasonCode(text: string | undefined): number {
  if (text === undefined || text === '') return 0;
  const t = text.trim();
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    if (n > 10) throw new CliError(`--reason-code ${text} is out of range: use 0 to 10 or a name such as keyCompromise`, 2);
    return n;
  }
  for (const [code, name] of Object.entries(REASON_NAMES)) if (name.toLowerCase() === t.toLowerCase()) return Number(code);
  throw new CliError(`--reason-code '${text}' is not a reason: use 0 to 10 or one of ${Object.values(REASON_NAMES).join(', ')}`, 2);
}

/**
 * A serial as the ledger and token subjects spell it: decimal. Accepts what step-ca accepts
 * (Go's big.Int base prefixes), so a serial copied from `openssl x509 -serial` works with 0x.
 */
export function parseSerial(text: string): string {
  const serial = normalizeSerial(text);
  if (serial === null) throw new CliError(`'${text}' is not a valid serial number - use a base 10 representation or a base 16 representation with '0x' prefix`, 2);
  return serial;
}

export interface RevokeOptions extends ClientFlags {
  serial?: string;
  certFile?: string;
  keyFile?: string;
  token?: string;
  provisioner?: string;
  kid?: string;
  password?: string;
  reason?: string;
  reasonCode?: string;
}

export interface RevokeResult { serial: string; via: 'mtls' | 'token' }

/** Exactly one way to authenticate, or a usage error saying which flags go together. */
function authMode(o: RevokeOptions): 'mtls' | 'token' | 'password' {
  const mtls = o.certFile !== undefined || o.keyFile !== undefined;
  if (mtls && (o.certFile === undefined || o.keyFile === undefined)) throw new CliError('--cert and --key go together', 2);
  const chosen = [mtls && '--cert/--key', o.token !== undefined && '--token', o.password !== undefined && '--password-file'].filter(Boolean);
  if (chosen.length > 1) throw new CliError(`choose one of ${chosen.join(', ')}`, 2);
  if (mtls) return 'mtls';
  if (o.token !== undefined) return 'token';
  if (o.password !== undefined) return 'password';
  throw new CliError('say how to authenticate: --cert and --key, --token, or --provisioner with --password-file', 2);
}

async function tokenSubject(token: string): Promise<string | undefined> {
  const jose = await import('jose');
  try {
    const sub = jose.decodeJwt(token).sub;
    return typeof sub === 'string' ? sub : undefined;
  } catch {
    throw new CliError('--token is not a JWT', 2);
  }
}

export async function revokeCertificate(o: RevokeOptions): Promise<RevokeResult> {
  const mode = authMode(o);
  const reasonCode = parseReasonCode(o.reasonCode);
  const reason = o.reason ?? '';
  let serial = o.serial === undefined ? undefined : parseSerial(o.serial);
  const ca = resolveCa(o);

  if (mode === 'mtls') {
    const { assertPair, loadCertFile, loadKeyFile } = await import('./files.js');
    const crt = loadCertFile(o.certFile!);
    const key = loadKeyFile(o.keyFile!);
    assertPair(crt, key);
    const own = serialToDecimal(crt.leaf.serialNumber);
    if (serial !== undefined && serial !== own) throw new CliError(`serial ${serial} is not the serial of the certificate in ${crt.file} (${own})`, 2);
    serial = own;
    const client = new CaClient({ caUrl: ca.caUrl, rootPem: ca.rootPem, cert: crt.pem, key: key.pem });
    // step sends all five fields; an empty ott is what tells the CA to look at the client certificate.
    await client.post('/revoke', { serial, ott: '', reasonCode, reason, passive: true });
    return { serial, via: 'mtls' };
  }

  const client = new CaClient({ caUrl: ca.caUrl, rootPem: ca.rootPem });
  let ott: string;
  if (mode === 'token') {
    ott = o.token!;
    // As step does: without SERIAL the token's subject names the certificate. A token for another
    // serial is left for the CA to refuse (403), which is the authoritative check.
    const sub = await tokenSubject(ott);
    if (serial === undefined) {
      if (!sub) throw new CliError('the token has no subject; pass SERIAL', 2);
      serial = parseSerial(sub);
    }
  } else {
    if (serial === undefined) throw new CliError('SERIAL is required unless --cert/--key or --token names the certificate', 2);
    const { mintToken } = await import('./token.js');
    ott = await mintToken({ client, rootPem: ca.rootPem, subject: serial, provisioner: o.provisioner, kid: o.kid, password: o.password!, revoke: true });
  }
  await client.post('/revoke', { serial, ott, reasonCode, reason, passive: true });
  return { serial, via: 'token' };
}
