// The "x5cInsecure" renew token (api.md §1.11): how a certificate that can no longer ride a TLS
// handshake (expired, or behind an L7 proxy) proves possession. The chain in the header is
// checked against our own intermediate with dates ignored; the token must be signed by the
// leaf's key. Each step is a named function; the first failure wins.
import { signedBy } from '../pki/signed-by.js';
import { createPublicKey, type KeyObject } from 'node:crypto';
import * as jose from 'jose';
import { unauthorized } from '../errors.js';
import { x509 } from '../pki/x509.js';
import { allowedAudiences, audienceMatches } from './audience.js';
import { checkSubject, checkTimes } from './token-claims.js';
import { nonCanonicalJws, signedPartKey } from './jws-canonical.js';

/** What step's CLI puts in `iss`; older CLIs sent the provisioner name instead. */
export const RENEW_ISSUER = 'step-ca-client/1.0';

export interface RenewTokenContext {
  dnsNames: string[];
  now: Date;
  maxLifetimeMs: number;
  /** The configured intermediate that issued the leaf (throws when none did): the leaf must be signed by it. */
  issuerOf(leaf: x509.X509Certificate): x509.X509Certificate;
  /** The provisioner name recorded in a leaf, for the legacy `iss`. */
  provisionerOf(leaf: x509.X509Certificate): string | null;
}

export interface VerifiedRenewToken {
  leaf: x509.X509Certificate;
  replayKey: string;
  expiresAt: Date;
}

export async function verifyRenewToken(token: string, ctx: RenewTokenContext): Promise<VerifiedRenewToken> {
  const leaf = leafFromHeader(token);
  await checkSignedByUs(leaf, ctx.issuerOf(leaf));
  checkClientUsage(leaf);
  const claims = await verifySignature(token, leaf);
  checkTimes(claims, ctx.now, ctx.maxLifetimeMs);
  checkSubject(claims);
  checkLeafClaims(claims, leaf, ctx);
  return {
    leaf,
    replayKey: typeof claims.jti === 'string' && claims.jti ? claims.jti : signedPartKey(token),
    expiresAt: new Date((claims.exp as number) * 1000),
  };
}

function leafFromHeader(token: string): x509.X509Certificate {
  const why = nonCanonicalJws(token);
  if (why) throw unauthorized(`error validating renew token: ${why}`);
  let header: jose.ProtectedHeaderParameters;
  try {
    header = jose.decodeProtectedHeader(token);
  } catch (e) {
    throw unauthorized(`error validating renew token: ${(e as Error).message}`);
  }
  const chain = header.x5cInsecure;
  if (!Array.isArray(chain) || chain.length === 0 || chain.length > 8 || chain.some((c) => typeof c !== 'string')) {
    throw unauthorized('error validating renew token: missing or malformed x5cInsecure header');
  }
  try {
    return new x509.X509Certificate(Buffer.from(chain[0] as string, 'base64'));
  } catch {
    throw unauthorized('error validating renew token: x5cInsecure[0] is not a certificate');
  }
}

async function checkSignedByUs(leaf: x509.X509Certificate, issuer: x509.X509Certificate): Promise<void> {
  if (!(await signedBy(leaf, issuer))) throw unauthorized(`error validating renew token: ${leaf.subject} was not issued by this CA`);
}

function checkClientUsage(leaf: x509.X509Certificate): void {
  const eku = leaf.getExtension(x509.ExtendedKeyUsageExtension);
  if (!eku?.usages.includes(x509.ExtendedKeyUsage.clientAuth)) throw unauthorized('error validating renew token: certificate lacks the clientAuth extended key usage');
  const ku = leaf.getExtension(x509.KeyUsagesExtension);
  if (ku && !(ku.usages & x509.KeyUsageFlags.digitalSignature)) throw unauthorized('error validating renew token: certificate lacks the digitalSignature key usage');
}

function algorithmsFor(key: KeyObject): string[] {
  if (key.asymmetricKeyType === 'ed25519') return ['EdDSA'];
  if (key.asymmetricKeyType === 'rsa') return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return [curve === 'secp384r1' ? 'ES384' : curve === 'secp521r1' ? 'ES512' : 'ES256'];
}

async function verifySignature(token: string, leaf: x509.X509Certificate): Promise<jose.JWTPayload> {
  const key = createPublicKey({ key: Buffer.from(leaf.publicKey.rawData), format: 'der', type: 'spki' });
  try {
    const { payload } = await jose.compactVerify(token, key, { algorithms: algorithmsFor(key) });
    return JSON.parse(new TextDecoder().decode(payload)) as jose.JWTPayload;
  } catch (e) {
    throw unauthorized(`error validating renew token: ${(e as Error).message}`);
  }
}

function checkLeafClaims(claims: jose.JWTPayload & { sub: string }, leaf: x509.X509Certificate, ctx: RenewTokenContext): void {
  const cn = leaf.subjectName.getField('CN')[0] ?? '';
  if (claims.sub !== cn) throw unauthorized(`error validating renew token: sub "${claims.sub}" is not the certificate's common name "${cn}"`);
  const provisioner = ctx.provisionerOf(leaf);
  if (claims.iss !== RENEW_ISSUER && (provisioner === null || claims.iss !== provisioner)) {
    throw unauthorized(`error validating renew token: invalid issuer ${JSON.stringify(claims.iss)}`);
  }
  // step-ca answers a wrong renew audience with 500; a client cannot tell, and 401 is the truth.
  if (!audienceMatches(claims.aud, allowedAudiences(ctx.dnsNames, 'renew'))) {
    throw unauthorized(`error validating renew token: invalid audience ${JSON.stringify(claims.aud)}`);
  }
}
