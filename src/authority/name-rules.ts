// What a name must be before it goes into a certificate, for the online CA and the offline
// `certificate create/sign` alike. A token or CSR may carry any string; a certificate with a NUL
// in a DNS name, a 10,000-character SAN or a bidi override in its CN is at best refused by
// verifiers and at worst read differently by two of them. Each rule answers why a name is
// refused (shown to the requester) or null.
import { isIP } from 'node:net';
import { domainToASCII, domainToUnicode } from 'node:url';
import type { San } from '../pki/names.js';

/** RFC 5280's ub-common-name. */
export const MAX_COMMON_NAME = 64;
const MAX_DNS_NAME = 253;
const MAX_LABEL = 63;
const MAX_EMAIL = 254;
const MAX_LOCAL_PART = 64;

// C0, DEL, C1; the bidi embeddings, overrides, isolates and marks (Trojan Source, CVE-2021-42574).
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LDH_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
const ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
const DOT_ATOM = new RegExp(`^${ATEXT}(?:\\.${ATEXT})*$`);
const QUOTED = /^"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"$/;
// RFC 3986's characters; a percent only as an escape.
const URI_CHARS = /^(?:[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+$/;

/** A name quoted for a message: JSON escapes make control characters visible; long names are cut. */
export function quoteName(name: string): string {
  const q = JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name);
  return q.replace(/[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function characterProblem(name: string): string | null {
  if (CONTROL.test(name)) return 'has a control character';
  if (BIDI.test(name)) return 'has a bidirectional-text control character';
  if (LONE_SURROGATE.test(name)) return 'is not valid Unicode';
  return null;
}

/** Why `cn` cannot be a certificate's subject common name, or null. */
export function commonNameProblem(cn: string): string | null {
  const chars = characterProblem(cn);
  if (chars) return `common name ${quoteName(cn)} ${chars}`;
  const n = [...cn].length;
  if (n > MAX_COMMON_NAME) return `common name ${quoteName(cn)} is ${n} characters long; RFC 5280 allows at most ${MAX_COMMON_NAME}`;
  return null;
}

/** `fe80::1%eth0` and its URI spelling `fe80::1%25eth0`: a zone id means nothing outside one host. */
export function hasZoneId(value: string): boolean {
  const at = value.indexOf('%');
  return at > 0 && isIP(value.slice(0, at)) === 6;
}

/** Why `dns` is not a DNS name fit for a certificate (LDH labels, A-labels for IDNs, `*.` leading only), or null. */
export function dnsNameProblem(dns: string, wildcard = true): string | null {
  if (/[^\x00-\x7f]/.test(dns)) return 'is not ASCII; use the punycode (xn--) form of internationalised names';
  const labels = dns.split('.');
  if (wildcard && labels[0] === '*') {
    labels.shift();
    if (labels.length === 0) return 'is a bare wildcard; a wildcard is "*." followed by a domain';
  }
  for (const label of labels) {
    if (label === '') return 'has an empty label';
    if (label.length > MAX_LABEL) return `has a label of ${label.length} characters; at most ${MAX_LABEL} are allowed`;
    if (label.includes('*')) return 'has a wildcard other than a whole leading "*." label';
    if (!LDH_LABEL.test(label)) return `has the label ${quoteName(label)}, which is not letters, digits and inner hyphens`;
    if (/^xn--/i.test(label)) {
      const u = domainToUnicode(label);
      if (!u || u === label.toLowerCase() || domainToASCII(u) !== label.toLowerCase()) return `has the label ${quoteName(label)}, which is not a valid punycode A-label`;
    }
  }
  if (dns.length > MAX_DNS_NAME) return `is ${dns.length} characters long; a DNS name has at most ${MAX_DNS_NAME}`;
  return null;
}

function emailProblem(email: string): string | null {
  if (email.length > MAX_EMAIL) return `is ${email.length} characters long; an email address has at most ${MAX_EMAIL}`;
  const at = email.lastIndexOf('@');
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  if (at <= 0 || (!DOT_ATOM.test(local) && !QUOTED.test(local))) return 'is not an email address (local-part@domain)';
  if (local.length > MAX_LOCAL_PART) return `has a local part of ${local.length} characters; at most ${MAX_LOCAL_PART} are allowed`;
  const d = dnsNameProblem(domain, false);
  return d ? `has a domain that ${d}` : null;
}

function uriProblem(uri: string): string | null {
  if (!URI_CHARS.test(uri)) return 'has characters a URI cannot hold unescaped';
  if (!URL.canParse(uri)) return 'is not an absolute URI';
  return null;
}

const KIND: Record<San['type'], string> = { dns: 'DNS name', ip: 'IP address', email: 'email address', url: 'URI' };

/** Why this subject alternative name cannot be in a certificate, or null. `san` is as classified from its string. */
export function sanProblem(san: San): string | null {
  const v = san.value;
  const chars = characterProblem(v);
  const why = chars ?? (hasZoneId(v) ? 'has an IPv6 zone id, which a certificate cannot hold' : null)
    ?? (san.type === 'dns' ? dnsNameProblem(v)
      : san.type === 'email' ? emailProblem(v)
      : san.type === 'url' ? uriProblem(v)
      : isIP(v) ? null : 'is not an IP address');
  return why ? `${KIND[san.type]} ${quoteName(v)} ${why}` : null;
}
