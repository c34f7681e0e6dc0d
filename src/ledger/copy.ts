// `ledger copy`: moves a whole ledger between backends (SQLite → PostgreSQL when a CA grows into
// several replicas, and back). Reads the source in one snapshot, loads the target in one
// transaction, and refuses a target that already holds anything: a copy never merges.
import { existsSync, statSync } from 'node:fs';
import { describeTarget, type LedgerTarget } from './open.js';
import { openRaw, type LedgerCounts } from './raw.js';

export async function copyLedger(from: LedgerTarget, to: LedgerTarget): Promise<LedgerCounts> {
  if (to.kind === 'sqlite' && existsSync(to.file) && statSync(to.file).size > 0) {
    throw new Error(`${to.file} already exists; ledger copy writes only into a new file`);
  }
  const src = await openRaw(from, { write: false });
  try {
    const dst = await openRaw(to, { write: true });
    try {
      const there = await dst.counts();
      if (there.certificates || there.usedTokens || there.crlNumber || there.auditEvents) {
        throw new Error(`${describeTarget(to)} is not empty (${there.certificates} certificates, ${there.usedTokens} spent tokens, CRL number ${there.crlNumber}); ledger copy fills only a new, empty ledger`);
      }
      const [sv, dv] = [await src.schemaVersion(), await dst.schemaVersion()];
      if (sv !== dv) throw new Error(`the source is at schema version ${sv} and the target at ${dv}: start \`stepstone serve\` on the source once to migrate it, then copy`);
      await dst.load(src);
      const [want, got] = [await src.counts(), await dst.counts()];
      if (JSON.stringify(want) !== JSON.stringify(got)) throw new Error(`the copy holds ${JSON.stringify(got)} but the source ${JSON.stringify(want)}`);
      return got;
    } finally {
      await dst.close();
    }
  } finally {
    await src.close();
  }
}
