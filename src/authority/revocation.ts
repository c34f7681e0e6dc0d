// Input rules of POST /revoke (api.md §1.13), as step-ca words them.
import { badRequest } from '../errors.js';

/**
 * A serial as Go's big.Int SetString(s, 0) reads it — decimal, or 0x/0o/0b prefixed — in decimal.
 */
export function parseSerial(s: string): string {
  const m = /^(?:0([xob]))?([0-9a-f]+)$/i.exec(s.trim());
  const base = m?.[1]?.toLowerCase();
  const digits = m?.[2] ?? '';
  const ok = m && (base === 'x' ? /^[0-9a-f]+$/i : base === 'o' ? /^[0-7]+$/ : base === 'b' ? /^[01]+$/ : /^[0-9]+$/).test(digits);
  if (!ok || s.length > 200) {
    throw badRequest(`'${s.slice(0, 80)}' is not a valid serial number - use a base 10 representation or a base 16 representation with '0x' prefix`);
  }
  return (base ? BigInt(`0${base}${digits}`) : BigInt(digits)).toString(10);
}

/** RFC 5280 CRLReason numbers step accepts (7 is unassigned but step lets it through). */
export function checkReasonCode(code: number | undefined): number {
  const c = code ?? 0;
  if (!Number.isInteger(c) || c < 0 || c > 10) throw badRequest('reasonCode out of bounds');
  return c;
}
