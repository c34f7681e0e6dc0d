// ca.json's `tls` block (Go names, as step-ca writes them) applied to Node's TLS server, so the
// tlsOptions we hand to clients describe what we actually serve. Below TLS 1.2 is never allowed.
import { constants } from 'node:crypto';
import type { SecureVersion } from 'node:tls';

const GO_TO_OPENSSL: Record<string, string> = {
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
};
// Go does not let TLS 1.3 suites be configured; neither do we.
const TLS13 = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';

export interface TlsConfig { cipherSuites?: string[]; minVersion?: number; maxVersion?: number; renegotiation?: boolean }
export interface NodeTlsOptions { minVersion: SecureVersion; maxVersion: SecureVersion; ciphers?: string; secureOptions?: number }

function version(v: number | undefined, fallback: SecureVersion, field: string): SecureVersion {
  if (v === undefined) return fallback;
  if (v === 1.2) return 'TLSv1.2';
  if (v === 1.3) return 'TLSv1.3';
  throw new Error(`config: tls.${field}: ${v} is not supported (1.2 or 1.3)`);
}

/**
 * `sessionTickets: false` (stepstone.sessionTickets): no stateless TLS session tickets. OpenSSL 3.0
 * builds each ticket from a copy of the session, encoded and decoded again with the client
 * certificate in it: with the launcher's one ticket, about 0.1 ms of server CPU per fresh mTLS
 * connection, 0.6–1.1 ms with OpenSSL's default two (bench/README.md). Node keeps no server
 * session cache, so without tickets nothing resumes.
 */
export function nodeTlsOptions(tls: TlsConfig | undefined, o: { sessionTickets?: boolean } = {}): NodeTlsOptions {
  const minVersion = version(tls?.minVersion, 'TLSv1.2', 'minVersion');
  const maxVersion = version(tls?.maxVersion, 'TLSv1.3', 'maxVersion');
  if (minVersion === 'TLSv1.3' && maxVersion === 'TLSv1.2') throw new Error('config: tls.minVersion is above tls.maxVersion');
  // Node lets a TLS 1.2 client renegotiate (3 times per 10 minutes): each one a full handshake
  // the server pays for. Refused unless ca.json asks for it (TLS 1.3 has no renegotiation).
  const flags = (tls?.renegotiation === true ? 0 : constants.SSL_OP_NO_RENEGOTIATION) | (o.sessionTickets === false ? constants.SSL_OP_NO_TICKET : 0);
  const secureOptions = flags === 0 ? undefined : flags;
  const base = secureOptions === undefined ? { minVersion, maxVersion } : { minVersion, maxVersion, secureOptions };
  if (!tls?.cipherSuites?.length) return base;
  const mapped = tls.cipherSuites.map((s) => {
    const o = GO_TO_OPENSSL[s];
    if (!o) throw new Error(`config: tls.cipherSuites: ${s} is not a supported TLS 1.2 cipher suite (one of ${Object.keys(GO_TO_OPENSSL).join(', ')})`);
    return o;
  });
  return { ...base, ciphers: `${TLS13}:${mapped.join(':')}` };
}
