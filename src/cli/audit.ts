import { Auditor } from '../audit/audit';
import type { Runtime } from '../runtime';
import { printJson, say, UsageError } from './output';

/**
 * `audit verify [--expect-head <id>:<hash>]`: recomputes the audit log's hash chain. Prints
 * `{ ok, entries, first_broken_id, reason, head }` and exits 1 when the chain is broken. A chain
 * checks itself but cannot see its newest entries deleted: `head` (the newest entry's id and
 * hash) is worth recording elsewhere, and `--expect-head` with a head recorded earlier fails
 * (reason `head_missing`) unless that entry is still there with that hash.
 */
export async function auditCommand(rt: Runtime, args: string[], flags: Record<string, unknown> = {}) {
  const [sub] = args;
  if (sub !== 'verify') throw new UsageError('audit verify [--expect-head <id>:<hash>]');
  const expected = flags['expect-head'] === undefined ? null : parseHead(flags['expect-head']);
  const auditor = new Auditor({ db: rt.db, keyring: rt.keyring });
  const v = await auditor.verify();
  let ok = v.ok;
  let reason: string | null = v.reason;
  let firstBroken = v.firstBrokenId;
  if (ok && expected) {
    const row = await rt.db
      .selectFrom('audit_log')
      .select(['id', 'hash'])
      .where('id', '=', expected.id)
      .executeTakeFirst();
    if (!row || !Buffer.from(row.hash).equals(expected.hash)) {
      ok = false;
      reason = 'head_missing';
      firstBroken = expected.id;
    }
  }
  printJson({
    ok,
    entries: v.entries,
    first_broken_id: firstBroken === null ? null : firstBroken.toString(),
    reason,
    head: v.head ? { id: v.head.id.toString(), hash: v.head.hash.toString('hex') } : null,
  });
  if (!ok) {
    say(
      reason === 'head_missing'
        ? `audit log lost entries: the expected head ${expected!.id} is gone or different`
        : `audit log broken at entry ${firstBroken} (${reason === 'hash' ? 'entry altered' : 'chain link missing or altered'})`,
    );
    process.exitCode = 1;
  } else {
    say(`audit log intact: ${v.entries} entries`);
  }
}

/** `<id>:<hash hex>`, as `head` prints them. */
function parseHead(value: unknown): { id: bigint; hash: Buffer } {
  const m = typeof value === 'string' ? /^([1-9]\d{0,18}):([0-9a-f]{64})$/.exec(value) : null;
  if (!m)
    throw new UsageError(
      '--expect-head takes <id>:<hash>, as `audit verify` prints its head (64 hex digits)',
    );
  return { id: BigInt(m[1]!), hash: Buffer.from(m[2]!, 'hex') };
}
