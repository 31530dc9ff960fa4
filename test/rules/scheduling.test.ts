import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { markPeriodsDirty } from '../../src/repositories/anomalies.repository';
import { evaluatePeriod } from '../../src/rules/engine';
import { evaluateDirtyPeriod, MAX_RULES_STALENESS_SECONDS } from '../../src/rules/scheduling';
import { createTestContext, type TestContext } from '../support/context';

/**
 * When rules run (docs/rules.md): a marked period waits while processing is busy, at most
 * MAX_RULES_STALENESS_SECONDS since it became dirty — also while data keeps arriving, and without
 * evaluating round after round while it does.
 */
let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => ctx.close());
beforeEach(async () => {
  await ctx.rt.db.deleteFrom('rule_dirty_periods').execute();
  await ctx.rt.db.deleteFrom('stream_dirty').execute();
});

const markOf = async (period: string) =>
  ctx.rt.db
    .selectFrom('rule_dirty_periods')
    .select(['generation', 'marked_at'])
    .where('period', '=', period)
    .executeTakeFirst();

/** Processing is busy: a stream waits for allocation. */
const busy = () =>
  ctx.rt.db
    .insertInto('stream_dirty')
    .values({ party_key: '91440703MA4UJ2KX0K', material: 'CU', dirty_from: new Date('2026-10-01T00:00:00Z') })
    .execute();

/** As if the period had become dirty `seconds` ago. */
const ageMark = (period: string, seconds: number) =>
  ctx.rt.db
    .updateTable('rule_dirty_periods')
    .set({ marked_at: sql<Date>`now() - make_interval(secs => ${seconds})` })
    .where('period', '=', period)
    .execute();

const evaluate = (p: string) => evaluatePeriod(ctx.rt.db, ctx.rt.keyring, p);

describe('rule evaluation scheduling', () => {
  it('a mark on a dirty period bumps its generation but keeps when it became dirty', async () => {
    await markPeriodsDirty(ctx.rt.db, ['2026-10']);
    await ageMark('2026-10', 30);
    const before = (await markOf('2026-10'))!;
    await markPeriodsDirty(ctx.rt.db, ['2026-10']);
    const after = (await markOf('2026-10'))!;
    expect(after.generation).toBe(before.generation + 1n);
    expect(after.marked_at).toEqual(before.marked_at);
  });

  it('waits while processing is busy, until the period has been dirty for the staleness bound', async () => {
    await busy();
    await markPeriodsDirty(ctx.rt.db, ['2026-10']);
    expect(await evaluateDirtyPeriod(ctx.rt.db, '2026-10', evaluate)).toMatchObject({
      rounds: 0,
      postponed: true,
    });
    // Data keeps arriving: the period is marked again and again, and still becomes due.
    await ageMark('2026-10', MAX_RULES_STALENESS_SECONDS + 1);
    await markPeriodsDirty(ctx.rt.db, ['2026-10']);
    expect(await evaluateDirtyPeriod(ctx.rt.db, '2026-10', evaluate)).toMatchObject({ rounds: 1 });
    expect(await markOf('2026-10')).toBeUndefined();
  });

  it('marked again during an evaluation while busy: postpones instead of evaluating round after round', async () => {
    await busy();
    await markPeriodsDirty(ctx.rt.db, ['2026-10']);
    await ageMark('2026-10', MAX_RULES_STALENESS_SECONDS + 1);
    let rounds = 0;
    const result = await evaluateDirtyPeriod(ctx.rt.db, '2026-10', async (p) => {
      rounds++;
      // New data for the period arrives while the rules read.
      await markPeriodsDirty(ctx.rt.db, [p]);
      return evaluate(p);
    });
    expect(result).toMatchObject({ rounds: 1, postponed: true });
    expect(rounds).toBe(1);
    // The mark stays, dirty since that round started: fresh, so it waits again for the bound.
    const mark = (await markOf('2026-10'))!;
    expect(Date.now() - mark.marked_at.getTime()).toBeLessThan(10_000);
  });

  it('marked again during an evaluation while idle: evaluates again at once', async () => {
    await markPeriodsDirty(ctx.rt.db, ['2026-10']);
    let rounds = 0;
    const result = await evaluateDirtyPeriod(ctx.rt.db, '2026-10', async (p) => {
      rounds++;
      if (rounds === 1) await markPeriodsDirty(ctx.rt.db, [p]);
      return evaluate(p);
    });
    expect(result).toMatchObject({ rounds: 2 });
    expect(result.postponed).toBeUndefined();
    expect(await markOf('2026-10')).toBeUndefined();
  });
});
