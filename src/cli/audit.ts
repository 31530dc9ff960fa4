import { Auditor } from '../audit/audit';
import type { Runtime } from '../runtime';
import { printJson, say, UsageError } from './output';

/**
 * `audit verify`: recomputes the audit log's hash chain. Prints `{ ok, entries, first_broken_id,
 * reason, head }` and exits 1 when the chain is broken. `head` (the newest entry's id and hash)
 * is worth recording elsewhere: only that reveals a deletion of the newest entries.
 */
export async function auditCommand(rt: Runtime, args: string[], _flags: Record<string, unknown> = {}) {
  const [sub] = args;
  if (sub !== 'verify') throw new UsageError('audit verify');
  const auditor = new Auditor({ db: rt.db, keyring: rt.keyring });
  const v = await auditor.verify();
  printJson({
    ok: v.ok,
    entries: v.entries,
    first_broken_id: v.firstBrokenId === null ? null : v.firstBrokenId.toString(),
    reason: v.reason,
    head: v.head ? { id: v.head.id.toString(), hash: v.head.hash.toString('hex') } : null,
  });
  if (!v.ok) {
    say(
      `audit log broken at entry ${v.firstBrokenId} (${v.reason === 'hash' ? 'entry altered' : 'chain link missing or altered'})`,
    );
    process.exitCode = 1;
  } else {
    say(`audit log intact: ${v.entries} entries`);
  }
}
