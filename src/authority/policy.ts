// Which names a certificate gets and whether the CSR may ask for them (api.md §2.3): names come
// from the token; the CSR is only checked against them.
import { badRequest, forbidden } from '../errors.js';
import { canonicalIp, classifySan, orderSans, type San, type SanType } from '../pki/names.js';
import type { ParsedCsr } from '../pki/csr.js';
import { commonNameProblem, sanProblem } from './name-rules.js';

/** The subject CN by name-rules.ts: no control or bidi characters, valid Unicode, at most 64 characters. */
export function checkCommonName(cn: string): void {
  const problem = commonNameProblem(cn);
  if (problem) throw badRequest(`the token subject is refused: ${problem}`);
}

/**
 * A certificate's SANs from a list of names (a token's `sans`, or the CA's own dnsNames for its
 * serving certificate), classified, deduplicated, in step-ca's order. DNS names,
 * emails and URIs are IA5Strings: anything not ASCII is refused (a library would silently keep
 * the low byte of each character), with a pointer to the punycode form.
 */
export function sansFromNames(sans: string[]): San[] {
  for (const s of sans) {
    if (/[^\x00-\x7f]/.test(s)) throw badRequest(`subject alternative name ${JSON.stringify(s)} is not ASCII; use the punycode (xn--) form of internationalised names`);
  }
  const seen = new Set<string>();
  const out: San[] = [];
  for (const s of sans) {
    const classified = classifySan(s);
    const problem = sanProblem(classified);
    if (problem) throw badRequest(problem);
    const san = classified.type === 'ip' ? { type: 'ip' as const, value: canonicalIp(classified.value) } : classified;
    const key = `${san.type}:${san.value}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(san);
    }
  }
  return orderSans(out);
}

const LABEL: Record<SanType, string> = { dns: 'DNS names', ip: 'IP addresses', email: 'email addresses', url: 'URIs' };

/** CN empty or one of sub/sans; per SAN type, the CSR's set equals the token's when it has any. */
export function checkCsrAgainstToken(csr: ParsedCsr, sub: string, tokenSans: string[], certSans: San[]): void {
  if (csr.commonName !== '' && csr.commonName !== sub && !tokenSans.includes(csr.commonName)) {
    throw forbidden(`certificate request does not contain the valid common name - got ${csr.commonName}, want ${sub}`);
  }
  for (const type of ['dns', 'ip', 'email', 'url'] as SanType[]) {
    const asked = csr.sans[type];
    if (asked.length === 0) continue;
    const norm = (v: string) => (type === 'ip' ? canonicalIp(v) : v);
    const want = certSans.filter((s) => s.type === type).map((s) => s.value);
    const a = new Set(asked.map(norm));
    const w = new Set(want.map(norm));
    if (a.size !== w.size || [...a].some((v) => !w.has(v))) {
      throw forbidden(`certificate request does not contain the valid ${LABEL[type]} - got [${asked.join(' ')}], want [${want.join(' ')}]`);
    }
  }
}
