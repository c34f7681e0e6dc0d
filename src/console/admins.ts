// Who may use the console: a client certificate that chained to this CA in the handshake, that
// the ledger holds and has not revoked, whose common name or one of whose SANs is listed in
// stepstone.console.admins.
import { X509Certificate } from 'node:crypto';

export interface AdminIdentity {
  /** The listed name that matched. */
  name: string;
  /** The certificate's serial, decimal. */
  serial: string;
  /** SHA-256 of the certificate, what CSRF tokens are bound to. */
  fingerprint: string;
  /** For the audit trail: "alice (certificate 1234)". */
  actor: string;
}

/** The names a certificate answers to: its CN(s) and every SAN value. */
export function certificateNames(cert: X509Certificate): string[] {
  const names: string[] = [];
  for (const line of cert.subject.split('\n')) if (line.startsWith('CN=')) names.push(line.slice(3));
  for (const entry of splitSans(cert.subjectAltName ?? '')) {
    const i = entry.indexOf(':');
    if (i > 0) names.push(unquote(entry.slice(i + 1)));
  }
  return names;
}

// Node writes "DNS:a, email:b, IP Address:1.2.3.4"; a value holding a comma or quote is JSON-quoted.
function splitSans(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"' && s[i - 1] !== '\\') quoted = !quoted;
    if (!quoted && c === ',' && s[i + 1] === ' ') {
      out.push(cur);
      cur = '';
      i++;
      continue;
    }
    cur += c;
  }
  if (cur) out.push(cur);
  return out;
}

function unquote(v: string): string {
  if (!v.startsWith('"')) return v;
  try {
    return JSON.parse(v) as string;
  } catch {
    return v;
  }
}

export function matchAdmin(cert: X509Certificate, admins: readonly string[]): AdminIdentity | null {
  const names = certificateNames(cert);
  const name = admins.find((a) => names.includes(a));
  if (name === undefined) return null;
  const serial = BigInt(`0x${cert.serialNumber}`).toString(10);
  return { name, serial, fingerprint: cert.fingerprint256, actor: `${name} (certificate ${serial})` };
}
