import { DEFAULT_TOLERANCES } from '../../src/domain/tolerances';
import { allocateDirtyStream } from '../../src/processing/allocate';
import type { ProcessingContext } from '../../src/processing/context';
import { processEvents } from '../../src/processing/events';
import { evaluatePeriod } from '../../src/rules/engine';
import { evaluateDirtyPeriod } from '../../src/rules/scheduling';
import type { TestContext } from './context';

export function processingContext(ctx: TestContext): ProcessingContext {
  return { db: ctx.rt.db, keyring: ctx.rt.keyring, tolerances: DEFAULT_TOLERANCES, log: ctx.rt.log };
}

/**
 * Runs the real processing code in-process until nothing is pending: the same functions the
 * queue workers call, minus Redis. Tests of the queue itself use real workers.
 */
export async function drain(
  ctx: TestContext,
  opts: { chunk?: number; rules?: boolean } = {},
): Promise<{ events: number; streams: number; periods: number }> {
  const pctx = processingContext(ctx);
  let events = 0;
  let streams = 0;
  let periods = 0;
  for (let round = 0; round < 100; round++) {
    const pending = await ctx.rt.db
      .selectFrom('inbound_events')
      .select(['platform', 'event_id'])
      .where('state', '=', 'pending')
      .orderBy('received_at')
      .orderBy('event_id')
      .execute();
    const chunk = opts.chunk ?? 500;
    for (let i = 0; i < pending.length; i += chunk) {
      const part = pending.slice(i, i + chunk);
      const byPlatform = new Map<string, string[]>();
      for (const p of part) byPlatform.set(p.platform, [...(byPlatform.get(p.platform) ?? []), p.event_id]);
      for (const [platform, ids] of byPlatform)
        events += (await processEvents(pctx, platform, ids)).processed;
    }
    const dirty = await ctx.rt.db.selectFrom('stream_dirty').select(['party_key', 'material']).execute();
    for (const d of dirty) {
      await allocateDirtyStream(ctx.rt.db, { partyKey: d.party_key, material: d.material });
      streams++;
    }
    if (pending.length === 0 && dirty.length === 0) {
      // Rules last, as the workers' debounce does: after the data has settled.
      if (opts.rules !== false) {
        const marked = await ctx.rt.db
          .selectFrom('rule_dirty_periods')
          .select('period')
          .orderBy('period')
          .execute();
        for (const m of marked) {
          await evaluateDirtyPeriod(ctx.rt.db, m.period, (p) => evaluatePeriod(ctx.rt.db, ctx.rt.keyring, p));
          periods++;
        }
      }
      return { events, streams, periods };
    }
  }
  throw new Error('pipeline did not settle');
}

/**
 * Processes every pending event of a platform in a transaction of its own, all at once: several
 * workers taking events sent a moment apart. Returns how many each processed.
 */
export async function processEachAtOnce(ctx: TestContext, platform: string): Promise<number[]> {
  const pending = await ctx.rt.db
    .selectFrom('inbound_events')
    .select('event_id')
    .where('platform', '=', platform)
    .where('state', '=', 'pending')
    .execute();
  const pctx = processingContext(ctx);
  const results = await Promise.all(pending.map((p) => processEvents(pctx, platform, [p.event_id])));
  return results.map((r) => r.processed);
}
