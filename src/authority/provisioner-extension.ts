// step-ca's provisioner extension (OID 1.3.6.1.4.1.37476.9000.64.1): which provisioner issued a
// leaf, so renewal can find it again. SEQUENCE { INTEGER type, OCTET STRING name,
// OCTET STRING credentialID, SEQUENCE OF UTF8String keyValuePairs OPTIONAL }.
import { AsnConvert, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes, AsnArray } from '@peculiar/asn1-schema';
import { x509 } from '../pki/x509.js';
import { oid } from '../pki/der.js';
import { findExtensionValue } from '../pki/der-reader.js';

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
  const asn = AsnConvert.parse(value, ProvisionerAsn);
  return { type: asn.type, name: dec.decode(asn.name), credentialId: dec.decode(asn.credentialId) };
}
