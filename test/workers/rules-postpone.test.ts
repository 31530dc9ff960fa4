import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markPeriodsDirty } from '../../src/repositories/anomalies.repository';
import { createRulesProcessor } from '../../workers/rules.processor';
import { createTestContext, type TestContext } from '../support/context';

/**
 * A rule evaluation postponed while processing is busy hands its period on to a later job. That
 * follow-up must survive even when the postponing job was itself a sweep's re-add: under the
 * sweep's minute suffix it would carry the active job's own id, and BullMQ would drop it, leaving
 * the period to the next sweep (tens of seconds later, again and again while data keeps coming).
 */
let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => ctx.close());

async function rulesJobIds(): Promise<string[]> {
  const ids: string[] = [];
  for (const q of ctx.rt.queues.queues.filter((q) => q.name.includes('rules'))) {
    for (const j of await q.getJobs(['delayed', 'waiting', 'active'])) if (j.id) ids.push(j.id);
  }
  return ids.filter((id) => id.startsWith('ru.')).sort();
}

describe('rules.evaluate postponed while processing is busy', () => {
  it('re-adds a follow-up job of its own, also when it was a sweep re-add', async () => {
    const [mark] = await markPeriodsDirty(ctx.rt.db, ['2026-10']);
    // Processing is busy: a stream waits for allocation.
    await ctx.rt.db
      .insertInto('stream_dirty')
      .values({
        party_key: '91440703MA4UJ2KX0K',
        material: 'CU',
        dirty_from: new Date('2026-10-01T00:00:00Z'),
      })
      .execute();
    // The job now running is the sweep's re-add of this mark (still in Redis while it runs).
    await ctx.rt.queues.enqueueRules([mark!], { resend: true });
    const [sweepJob] = await rulesJobIds();
    expect(sweepJob).toMatch(/^ru\.2026-10\.\d+\.s\d+$/);

    const processor = createRulesProcessor({
      db: ctx.rt.db,
      keyring: ctx.rt.keyring,
      queues: ctx.rt.queues,
      log: ctx.rt.log,
    });
    const result = await processor({ name: 'rules.evaluate', data: { period: '2026-10' } } as Job);
    expect(result).toEqual({ rounds: 0, postponed: true });

    const ids = await rulesJobIds();
    expect(ids).toHaveLength(2);
    expect(ids).toContain(sweepJob);
    expect(ids.find((id) => id !== sweepJob)).toMatch(/^ru\.2026-10\.\d+\.p\d+$/);
    // The mark stays until an evaluation clears it.
    expect(
      await ctx.rt.db
        .selectFrom('rule_dirty_periods')
        .select('period')
        .where('period', '=', '2026-10')
        .execute(),
    ).toHaveLength(1);
  });

  it('a job of an older generation leaves at once: the newest job of the period does the work', async () => {
    await ctx.rt.db.deleteFrom('rule_dirty_periods').execute();
    // Processing is busy (as in the test above: a stream waits for allocation).
    await ctx.rt.db
      .insertInto('stream_dirty')
      .values({
        party_key: '91440703MA4UJ2KX0L',
        material: 'CU',
        dirty_from: new Date('2026-09-01T00:00:00Z'),
      })
      .execute();
    const [first] = await markPeriodsDirty(ctx.rt.db, ['2026-09']);
    const [second] = await markPeriodsDirty(ctx.rt.db, ['2026-09']);
    expect(second!.generation).toBe(first!.generation + 1n);
    const processor = createRulesProcessor({
      db: ctx.rt.db,
      keyring: ctx.rt.keyring,
      queues: ctx.rt.queues,
      log: ctx.rt.log,
    });
    const job = (generation: bigint) =>
      ({ name: 'rules.evaluate', data: { period: '2026-09', generation: generation.toString() } }) as Job;
    expect(await processor(job(first!.generation))).toEqual({
      rounds: 0,
      postponed: false,
      skipped: 'superseded',
    });
    // The newest job goes on (and, processing being busy, postpones).
    expect(await processor(job(second!.generation))).toEqual({ rounds: 0, postponed: true });
    // Once the period is clean, a late job has nothing to do.
    await ctx.rt.db.deleteFrom('rule_dirty_periods').execute();
    expect(await processor(job(second!.generation))).toEqual({
      rounds: 0,
      postponed: false,
      skipped: 'clean',
    });
  });
});
