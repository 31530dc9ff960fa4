import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { auditCommand } from '../../src/cli/audit';
import { type AuditEntryInput, appendAuditEntries } from '../../src/repositories/audit.repository';
import { createTestContext, type TestContext } from '../support/context';
import { asSuperuser } from '../support/officers';

/**
 * Tampering needs the trigger out of the way: as the table owner / superuser, in one transaction
 * (what an insider with DDL rights could do). The keyed chain must still give it away.
 */
let ctx: TestContext;

beforeEach(async () => {
  ctx = await createTestContext();
  const key = ctx.rt.keyring.key('audit-chain');
  for (let i = 0; i < 10; i++) await appendAuditEntries(ctx.rt.db, key, [entry(i)]);
});
afterEach(async () => ctx.close());
afterAll(() => {
  process.exitCode = 0;
});

function entry(i: number): AuditEntryInput {
  return {
    at: new Date(Date.UTC(2026, 9, 2, 0, 0, i)),
    actor: 'li.wei',
    role: 'officer',
    method: 'GET',
    endpoint: '/v1/parties/:key',
    path: `/v1/parties/P${i}`,
    query: { period: '2026-09' },
    status: 200,
    parties: [`P${i}`],
    trades: [],
    piiUnmasked: false,
    requestId: `req-${i}`,
  };
}

async function verify(
  flags: Record<string, unknown> = {},
): Promise<{ out: Record<string, unknown>; exitCode: number }> {
  const writes: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    writes.push(String(chunk));
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  process.exitCode = 0;
  try {
    await auditCommand(ctx.rt, ['verify'], flags);
  } finally {
    spy.mockRestore();
    err.mockRestore();
  }
  const exitCode = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { out: JSON.parse(writes.join('')), exitCode };
}

async function tamper(statement: string): Promise<void> {
  await asSuperuser(ctx, async (c) => {
    await c.query('BEGIN');
    await c.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only');
    await c.query(statement);
    await c.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only');
    await c.query('COMMIT');
  });
}

async function ids(): Promise<bigint[]> {
  const rows = await ctx.rt.db.selectFrom('audit_log').select('id').orderBy('id').execute();
  return rows.map((r) => r.id);
}

describe('audit verify', () => {
  it('ok on an intact chain, with the head to record elsewhere', async () => {
    const { out, exitCode } = await verify();
    const all = await ids();
    expect(exitCode).toBe(0);
    expect(out).toMatchObject({ ok: true, entries: 10, first_broken_id: null, reason: null });
    expect(out.head).toMatchObject({ id: all[9]!.toString() });
  });

  it('detects an edited entry (status changed)', async () => {
    const target = (await ids())[4]!;
    await tamper(`UPDATE audit_log SET status = 404 WHERE id = ${target}`);
    const { out, exitCode } = await verify();
    expect(exitCode).toBe(1);
    expect(out).toMatchObject({ ok: false, entries: 10, first_broken_id: target.toString(), reason: 'hash' });
  });

  it('detects an edited entry whose hash was recomputed without the key', async () => {
    const target = (await ids())[2]!;
    // An insider re-hashing with plain SHA-256 (no key) still breaks the chain.
    await tamper(
      `UPDATE audit_log SET parties = '[]', hash = sha256(prev_hash || convert_to(parties::text, 'UTF8')) WHERE id = ${target}`,
    );
    const { out } = await verify();
    expect(out).toMatchObject({ ok: false, first_broken_id: target.toString() });
  });

  it('detects a deleted entry at the next one', async () => {
    const all = await ids();
    await tamper(`DELETE FROM audit_log WHERE id = ${all[6]}`);
    const { out, exitCode } = await verify();
    expect(exitCode).toBe(1);
    expect(out).toMatchObject({
      ok: false,
      entries: 9,
      first_broken_id: all[7]!.toString(),
      reason: 'prev_hash',
    });
  });

  it('detects the first entry deleted', async () => {
    const all = await ids();
    await tamper(`DELETE FROM audit_log WHERE id = ${all[0]}`);
    const { out } = await verify();
    expect(out).toMatchObject({ ok: false, first_broken_id: all[1]!.toString(), reason: 'prev_hash' });
  });

  it('detects an entry verified under another master key', async () => {
    const other = await createTestContext();
    try {
      const { out } = await (async () => {
        const saved = ctx;
        ctx = { ...saved, rt: { ...saved.rt, keyring: other.rt.keyring } };
        try {
          return await verify();
        } finally {
          ctx = saved;
        }
      })();
      expect(out).toMatchObject({ ok: false, first_broken_id: (await ids())[0]!.toString(), reason: 'hash' });
    } finally {
      await other.close();
    }
  });

  it('with a head recorded earlier, detects the newest entries deleted', async () => {
    const before = await verify();
    const head = before.out.head as { id: string; hash: string };
    expect((await verify({ 'expect-head': `${head.id}:${head.hash}` })).exitCode).toBe(0);
    const all = await ids();
    // An insider deletes the last three entries: the chain that is left is intact...
    await tamper(`DELETE FROM audit_log WHERE id > ${all[6]}`);
    expect((await verify()).out).toMatchObject({ ok: true, entries: 7 });
    // ...but not the head recorded before.
    const after = await verify({ 'expect-head': `${head.id}:${head.hash}` });
    expect(after.exitCode).toBe(1);
    expect(after.out).toMatchObject({ ok: false, reason: 'head_missing', first_broken_id: head.id });
    await expect(auditCommand(ctx.rt, ['verify'], { 'expect-head': 'yesterday' })).rejects.toThrow(
      /--expect-head/,
    );
  });

  it('usage error for anything but verify', async () => {
    await expect(auditCommand(ctx.rt, ['frobnicate'], {})).rejects.toThrow(/audit verify/);
  });
});
