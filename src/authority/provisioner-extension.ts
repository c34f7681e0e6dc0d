// step-ca's provisioner extension (OID 1.3.6.1.4.1.37476.9000.64.1): which provisioner issued a
// leaf, so renewal can find it again. SEQUENCE { INTEGER type, OCTET STRING name,
// OCTET STRING credentialID, SEQUENCE OF UTF8String keyValuePairs OPTIONAL }.
import { AsnConvert, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes, AsnArray } from '@peculiar/asn1-schema';
import { x509 } from '../pki/x509.js';
import { oid } from '../pki/der.js';
import { children, findExtensionValue, readTlv } from '../pki/der-reader.js';

export const PROVISIONER_EXTENSION_OID = '1.3.6.1.4.1.37476.9000.64.1';

/** step's provisioner type numbers. */
export const PROVISIONER_TYPE = { JWK: 1, OIDC: 2, GCP: 3, AWS: 4, Azure: 5, ACME: 6, X5C: 7, K8sSA: 8, SSHPOP: 9, SCEP: 10, Nebula: 11 } as const;

@AsnType({ type: AsnTypeTypes.Sequence, itemType: AsnPropTypes.Utf8String })
class KeyValuePairs extends AsnArray<string> {}

@AsnType({ type: AsnTypeTypes.Sequence })
class ProvisionerAsn {
  @AsnProp({ type: AsnPropTypes.Integer })
  type = 0;

  @AsnProp({ type: AsnPropTypes.OctetString })
  name: ArrayBuffer = new ArrayBuffer(0);

  @AsnProp({ type: AsnPropTypes.OctetString })
  credentialId: ArrayBuffer = new ArrayBuffer(0);

  @AsnProp({ type: KeyValuePairs, optional: true })
  keyValuePairs?: KeyValuePairs;
}

export interface ProvisionerInfo { type: number; name: string; credentialId: string }

const enc = new TextEncoder();
const dec = new TextDecoder();

export function provisionerExtension(info: ProvisionerInfo): x509.Extension {
  const asn = new ProvisionerAsn();
  asn.type = info.type;
  asn.name = enc.encode(info.name).buffer as ArrayBuffer;
  asn.credentialId = enc.encode(info.credentialId).buffer as ArrayBuffer;
  return new x509.Extension(PROVISIONER_EXTENSION_OID, false, AsnConvert.serialize(asn));
}

const OID_BODY = oid(PROVISIONER_EXTENSION_OID).subarray(2);

/** Reads the extension back from a certificate; null when it has none. */
export function readProvisionerExtension(cert: { rawData: ArrayBuffer }): ProvisionerInfo | null {
  // Found in the DER directly: the library's getExtension decodes every extension of the
  // certificate first, ~0.6 ms per renewal.
  const found = findExtensionValue(new Uint8Array(cert.rawData), OID_BODY);
  const value = found === undefined ? new x509.X509Certificate(cert.rawData).getExtension(PROVISIONER_EXTENSION_OID)?.value : found;
  if (!value) return null;
  return readProvisionerValue(value instanceof Uint8Array ? value : new Uint8Array(value)) ?? parseProvisionerValue(value);
}

/** The schema parser's reading of the extension's value: the reference, and the fallback. */
export function parseProvisionerValue(value: ArrayBuffer | Uint8Array): ProvisionerInfo {
  const asn = AsnConvert.parse(value as BufferSource, ProvisionerAsn);
  return { type: asn.type, name: dec.decode(asn.name), credentialId: dec.decode(asn.credentialId) };
}

/**
 * The extension's value in the shape step-ca and we write it (a small non-negative INTEGER, two
 * OCTET STRINGs, optionally the SEQUENCE of key-value pairs), read by the strict DER reader: the
 * schema parser costs ~0.3 ms CPU per renewal (cpu-prof of fresh /renew, bench/fresh-profile.ts).
 * Anything else answers null and goes to the schema parser, which decides.
 */
export function readProvisionerValue(v: Uint8Array): ProvisionerInfo | null {
  const top = readTlv(v, 0, v.length);
  const f = top && top.tag === 0x30 && top.end === v.length ? children(v, top) : null;
  if (!f || f.length < 3 || f.length > 4) return null;
  const [type, name, cred, pairs] = f as [typeof f[0], typeof f[0], typeof f[0], typeof f[0] | undefined];
  if (type!.tag !== 0x02 || name!.tag !== 0x04 || cred!.tag !== 0x04) return null;
  if (pairs && (pairs.tag !== 0x30 || !children(v, pairs)?.every((p) => p.tag === 0x0c))) return null;
  const len = type!.end - type!.body;
  // Minimal, non-negative, small: one byte below 0x80 (step's type numbers are 1..11).
  if (len !== 1 || v[type!.body]! > 0x7f) return null;
  const text = (t: NonNullable<typeof f[0]>) => dec.decode(v.subarray(t.body, t.end));
  return { type: v[type!.body]!, name: text(name!), credentialId: text(cred!) };
}
