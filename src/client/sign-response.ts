// The certificate chain in a /sign, /renew or /rekey answer, shared by `ca certificate` and
// `ca renew|rekey` so the two cannot drift on what they accept.
import { CliError } from '../cli/common.js';
import { pemBlocks, toPem } from '../pki/pem.js';

export interface SignResponse { crt?: unknown; ca?: unknown; certChain?: unknown }

/** certChain (leaf first, no root), else [crt, ca] as step falls back; each re-encoded as clean PEM. */
export function chainFromResponse(res: SignResponse, path: string): string[] {
  const raw = Array.isArray(res.certChain) && res.certChain.length > 0 ? res.certChain : [res.crt, res.ca].filter((x) => x !== undefined && x !== null);
  const chain = raw.map((p) => {
    const der = typeof p === 'string' ? pemBlocks(p, 'CERTIFICATE')[0] : undefined;
    if (!der) throw new CliError(`the CA answered ${path} without a PEM certificate`);
    return toPem(der, 'CERTIFICATE');
  });
  if (chain.length === 0) throw new CliError(`the CA answered ${path} without a certificate`);
  return chain;
}
