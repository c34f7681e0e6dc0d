// ca.json's stepstone.console: the web console's own listener. Off unless `enabled` is true or an
// `address` is given; on, it listens on the loopback unless told otherwise.
import { z } from 'zod';
import { ADDRESS } from './observe-schema.js';

export { consoleAddress, DEFAULT_CONSOLE_ADDRESS } from './defaults.js';

export const consoleSchema = z.object({
  enabled: z.boolean().optional(),
  /** HOST:PORT of the console's TLS listener. */
  address: z.string().regex(ADDRESS, 'must be HOST:PORT or :PORT').optional(),
  /**
   * Who may use it: each entry a common name or SAN value (DNS name, email, URI, IP) of an
   * administrator's client certificate, which must also come from this CA and not be revoked.
   */
  admins: z.array(z.string().min(1).max(256)).default([]),
}).passthrough().superRefine((c, ctx) => {
  const on = c.enabled ?? c.address !== undefined;
  if (on && c.admins.length === 0) ctx.addIssue({ code: 'custom', path: ['admins'], message: 'the console is on but lists no administrator: nobody could use it' });
});
export type ConsoleConfig = z.infer<typeof consoleSchema>;
