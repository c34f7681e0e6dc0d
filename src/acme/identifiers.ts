// Which identifiers an order may name (RFC 8555 §7.1.3, RFC 8738 for IPs), normalised so the
// same name is one authorization, and so a CSR's names compare with the order's.
import { isIP } from 'node:net';
import { canonicalIp } from '../pki/names.js';
import type { AcmeIdentifier } from '../ledger/acme-store.js';
import { AcmeProblem, malformed } from './problem.js';

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
export const MAX_IDENTIFIERS = 100;

/** Lower-case, syntax-checked; `*.` only as the first label and only where dns-01 is offered. */
export function normaliseIdentifier(raw: unknown, wildcardAllowed: boolean): AcmeIdentifier {
  if (!raw || typeof raw !== 'object') throw malformed('each identifier must be an object with type and value');
  const { type, value } = raw as { type?: unknown; value?: unknown };
  if (typeof value !== 'string' || value.length === 0 || value.length > 255) throw malformed('identifier value must be a non-empty string');
  if (type === 'ip') {
    if (!isIP(value)) throw rejected(`"${value}" is not an IP address`);
    return { type: 'ip', value: canonicalIp(value) };
  }
  if (type !== 'dns') throw new AcmeProblem('unsupportedIdentifier', `identifier type ${JSON.stringify(type)} is not supported (dns, ip)`);
  const name = value.toLowerCase().replace(/\.$/, '');
  if (isIP(name)) throw rejected(`"${value}" is an IP address: use an identifier of type ip`);
  const wildcard = name.startsWith('*.');
  if (wildcard && !wildcardAllowed) throw rejected(`wildcard "${value}" needs dns-01, which this provisioner does not offer`);
  const labels = (wildcard ? name.slice(2) : name).split('.');
  if (name.length > 253 || labels.some((l) => !LABEL.test(l))) throw rejected(`"${value}" is not a valid DNS name`);
  return { type: 'dns', value: name };
}

export function normaliseIdentifiers(raw: unknown, wildcardAllowed: boolean): AcmeIdentifier[] {
  if (!Array.isArray(raw) || raw.length === 0) throw malformed('identifiers must be a non-empty array');
  if (raw.length > MAX_IDENTIFIERS) throw new AcmeProblem('rejectedIdentifier', `at most ${MAX_IDENTIFIERS} identifiers per order`);
  const seen = new Map<string, AcmeIdentifier>();
  for (const r of raw) {
    const id = normaliseIdentifier(r, wildcardAllowed);
    seen.set(key(id), id);
  }
  return [...seen.values()];
}

export const key = (id: AcmeIdentifier) => `${id.type}:${id.value}`;

function rejected(detail: string): AcmeProblem {
  return new AcmeProblem('rejectedIdentifier', detail, 400, { subproblems: [{ type: 'urn:ietf:params:acme:error:rejectedIdentifier', detail }] });
}
