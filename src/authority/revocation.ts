// Input rules of POST /revoke (api.md §1.13), as step-ca words them.
import { badRequest } from '../errors.js';
import { normalizeSerial } from '../pki/serial.js';

/** A serial from a /revoke body, in decimal; step-ca's message when it is not one. */
export function parseSerial(s: string): string {
  const serial = normalizeSerial(s);
  if (serial === null) {
    throw badRequest(`'${s.slice(0, 80)}' is not a valid serial number - use a base 10 representation or a base 16 representation with '0x' prefix`);
  }
  return serial;
}

/** RFC 5280 CRLReason numbers step accepts (7 is unassigned but step lets it through). */
export function checkReasonCode(code: number | undefined): number {
  const c = code ?? 0;
  if (!Number.isInteger(c) || c < 0 || c > 10) throw badRequest('reasonCode out of bounds');
  return c;
}
