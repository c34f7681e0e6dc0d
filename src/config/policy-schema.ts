// step-ca's name policy block (`policy.x509`), as ca.json spells it at authority level and as
// Stepstone also accepts it per provisioner. step-ca's ca.json keys are cn/dns/ip/email/uri; its
// admin API (linkedca) spells them commonNames/dns/ips/emails/uris: both are accepted and merged.
import { z } from 'zod';

const list = z.array(z.string()).optional();

export const x509NamesSchema = z.object({
  cn: list, commonNames: list,
  dns: list,
  ip: list, ips: list,
  email: list, emails: list,
  uri: list, uris: list,
}).strict();
export type X509NamesConfig = z.infer<typeof x509NamesSchema>;

export const policySchema = z.object({
  x509: z.object({
    allow: x509NamesSchema.optional(),
    deny: x509NamesSchema.optional(),
    /** Literal wildcard names (*.example.com) in certificates; step-ca's default is false. */
    allowWildcardNames: z.boolean().optional(),
  }).strict().optional(),
  /** SSH policies are step-ca's; Stepstone issues no SSH certificates and ignores them. */
  ssh: z.unknown().optional(),
}).strict();
export type PolicyConfig = z.infer<typeof policySchema>;
