// The audit records the authority hands the ledger with what they record (same transaction),
// and the wrapper that tells the observer how each request ended.
import { randomUUID } from 'node:crypto';
import type { AuditEventInput, IssuanceMethod } from '../ledger/ledger.js';
import type { Attempt, Observer } from './observer.js';

const ISSUED_TYPE: Record<IssuanceMethod, AuditEventInput['type']> = { sign: 'issued', serving: 'issued', renew: 'renewed', rekey: 'rekeyed' };

export class AuditRecorder {
  /** @param enabled false: no audit rows at all (stepstone.audit.enabled; the bench's "off"). */
  constructor(private readonly replica: string | null, private readonly enabled: boolean) {}

  issued(a: Attempt, method: IssuanceMethod, time: Date, c: { serial: string; subject: string; sans: string[]; provisioner: string | null }): AuditEventInput | undefined {
    if (!this.enabled) return undefined;
    return this.event(a, time, { type: ISSUED_TYPE[method], outcome: method, serial: c.serial, subject: c.subject, sans: c.sans, provisioner: c.provisioner });
  }

  revoked(a: Attempt, time: Date, reason: string): AuditEventInput | undefined {
    if (!this.enabled) return undefined;
    return this.event(a, time, { type: 'revoked', outcome: a.credential, serial: a.serial ?? null, reason });
  }

  /**
   * A revocation an administrator made (the console): the 'revoked' event every revocation has,
   * naming the admin, and the 'admin' event for the action itself. Both go in the revocation's
   * transaction, so neither can exist without it.
   */
  adminRevoked(a: Attempt, time: Date, actor: string, reason: string): AuditEventInput[] | undefined {
    if (!this.enabled) return undefined;
    return [
      { ...this.event(a, time, { type: 'revoked', outcome: 'admin', serial: a.serial ?? null, reason }), actor },
      { ...this.event(a, time, { type: 'admin', outcome: 'revoke', serial: a.serial ?? null, reason }), actor },
    ];
  }

  private event(a: Attempt, time: Date, e: Omit<AuditEventInput, 'id' | 'time' | 'replica'>): AuditEventInput {
    return {
      id: randomUUID(),
      time,
      replica: this.replica,
      requestId: a.requestId ?? null,
      clientAddress: a.clientAddress ?? null,
      provisioner: a.provisioner ?? null,
      subject: a.subject ?? null,
      sans: a.sans ?? null,
      ...e,
    };
  }
}

/** Runs one request, telling `observer` of a refusal or failure (success is told by the caller). */
export async function observed<T>(observer: Observer, a: Attempt, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    observer.refused(a, err);
    throw err;
  }
}
