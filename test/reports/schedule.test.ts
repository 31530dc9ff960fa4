import { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { periodOfMs } from '../../src/domain/rules/types';
import { MONTHLY_REPORTS_SCHEDULE, queueName } from '../../src/queue/jobs';
import { createRedis } from '../../src/queue/redis';
import { SCHEDULED_DIVISIONS } from '../../src/reports/labels';
import { renderReport, requestReport } from '../../src/reports/report.service';
import {
  BACKLOG_SECONDS,
  CATCH_UP_AFTER_MS,
  lastClosedPeriod,
  produceScheduledReports,
  scheduledMoment,
  sweepReports,
} from '../../src/reports/schedule';
import { createReportsProcessor } from '../../workers/reports.processor';
import { createTestContext, type TestContext } from '../support/context';
import { loadWorkedData } from './worked-data';

/**
 * The monthly schedule: the BullMQ job scheduler (cron, Asia/Shanghai), the handler run by two
 * workers at once, and the sweep's catch-up — each period's reports are produced once.
 */
let ctx: TestContext;
const deps = () => ({ db: ctx.rt.db, queues: ctx.rt.queues, log: ctx.rt.log });

async function reportsOf(period: string) {
  return ctx.rt.db
    .selectFrom('reports')
    .select(['id', 'division', 'status', 'attempts', 'requested_by', 'data_version'])
    .where('period', '=', period)
    .orderBy('division')
    .orderBy('id')
    .execute();
}

beforeAll(async () => {
  ctx = await createTestContext();
  await loadWorkedData(ctx);
}, 60_000);
afterAll(async () => ctx.close());

describe('periods and moments (Asia/Shanghai)', () => {
  it('the last closed period turns at midnight Shanghai time, not UTC', () => {
    expect(lastClosedPeriod(new Date('2026-10-31T23:59:59+08:00'))).toBe('2026-09');
    expect(lastClosedPeriod(new Date('2026-11-01T00:00:00+08:00'))).toBe('2026-10');
    // 2026-10-31T16:30Z is already November 1st in Shanghai.
    expect(lastClosedPeriod(new Date('2026-10-31T16:30:00Z'))).toBe('2026-10');
    expect(lastClosedPeriod(new Date('2027-01-01T00:00:00+08:00'))).toBe('2026-12');
  });

  it('the scheduled moment is 02:30 on the 1st of the next month', () => {
    expect(scheduledMoment('2026-10').toISOString()).toBe(
      new Date('2026-11-01T02:30:00+08:00').toISOString(),
    );
    expect(scheduledMoment('2026-12').toISOString()).toBe(
      new Date('2027-01-01T02:30:00+08:00').toISOString(),
    );
  });
});

describe('the job scheduler', () => {
  it('is declared (idempotently) with the cron pattern in Asia/Shanghai time', async () => {
    await ctx.rt.queues.ensureSchedulers();
    await ctx.rt.queues.ensureSchedulers();
    const q = ctx.rt.queues.reportsSchedulerQueue;
    const schedulers = await q.getJobSchedulers();
    expect(schedulers.map((s) => s.key)).toEqual(['reports.monthly']);
    const s = schedulers[0]!;
    expect(s.pattern).toBe(MONTHLY_REPORTS_SCHEDULE.pattern);
    expect(s.tz).toBe('Asia/Shanghai');
    // Its next run: 02:30 Shanghai on the 1st — today's, if it is the 1st before 02:30, else next month's.
    const now = Date.now();
    const next = Number(s.next);
    const candidates = [lastClosedPeriod(new Date(now)), periodOfMs(now)].map((p) =>
      scheduledMoment(p).getTime(),
    );
    expect(candidates.filter((t) => t > now)[0], `next = ${new Date(next).toISOString()}`).toBe(next);
    expect(next).toBeGreaterThan(now);
    expect(new Date(next + 8 * 3_600_000).toISOString()).toMatch(/-01T02:30:00\.000Z$/);
  });
});

describe('once per period', () => {
  it('two producers at once store one report per division', async () => {
    const [a, b] = await Promise.all([
      produceScheduledReports(deps(), '2026-08'),
      produceScheduledReports(deps(), '2026-08'),
    ]);
    expect(a.reports.map((r) => r.division)).toEqual([...SCHEDULED_DIVISIONS]);
    expect(b.reports.map((r) => r.id)).toEqual(a.reports.map((r) => r.id));
    expect([...a.reports, ...b.reports].filter((r) => r.created)).toHaveLength(SCHEDULED_DIVISIONS.length);
    const rows = await reportsOf('2026-08');
    expect(rows.map((r) => r.division).sort()).toEqual([...SCHEDULED_DIVISIONS].sort());
    expect(rows.every((r) => r.requested_by === 'schedule')).toBe(true);
    // A re-run on unchanged data: nothing new.
    const c = await produceScheduledReports(deps(), '2026-08');
    expect(c.reports.filter((r) => r.created)).toEqual([]);
    expect(await reportsOf('2026-08')).toHaveLength(SCHEDULED_DIVISIONS.length);
  }, 60_000);

  it('waits until the data clock has passed the end of the period', async () => {
    // The worked data's clock is 2026-10-02: October has not closed for the platforms yet.
    const early = await produceScheduledReports(deps(), '2026-10');
    expect(early).toEqual({ period: '2026-10', waiting: true, reports: [] });
    const swept = await sweepReports(deps(), new Date('2026-11-02T00:00:00+08:00'));
    expect(swept.caughtUp).toBeNull();
    expect(await reportsOf('2026-10')).toEqual([]);
    // A platform sends an event from November: October is closed.
    await ctx.rt.db
      .updateTable('platform_clocks')
      .set({ data_clock: new Date('2026-11-01T00:05:00+08:00') })
      .execute();
  });

  it('waits while processing is behind (a backfill still being reconciled)', async () => {
    const ev = await ctx.rt.db
      .selectFrom('inbound_events')
      .select(['platform', 'event_id', 'state', 'received_at'])
      .orderBy('event_id')
      .limit(1)
      .executeTakeFirstOrThrow();
    const setEvent = (state: string, receivedAt: Date) =>
      ctx.rt.db
        .updateTable('inbound_events')
        .set({ state, received_at: receivedAt })
        .where('platform', '=', ev.platform)
        .where('event_id', '=', ev.event_id)
        .execute();
    // A pending event received a minute ago: a backlog. A pending event received just now is live
    // traffic and does not hold reports up.
    await setEvent('pending', new Date(Date.now() - 2 * BACKLOG_SECONDS * 1000));
    expect(await produceScheduledReports(deps(), '2026-10')).toEqual({
      period: '2026-10',
      waiting: true,
      reports: [],
    });
    const swept = await sweepReports(deps(), new Date('2026-11-02T00:00:00+08:00'));
    expect(swept.caughtUp).toBeNull();
    expect(await reportsOf('2026-10')).toEqual([]);
    // Likewise a stream waiting for allocation for a minute.
    await setEvent(ev.state, ev.received_at as Date);
    await ctx.rt.db
      .insertInto('stream_dirty')
      .values({
        party_key: 'backlog-test',
        material: 'steel_scrap',
        dirty_from: new Date('2026-10-01T00:00:00Z'),
        marked_at: new Date(Date.now() - 2 * BACKLOG_SECONDS * 1000),
      })
      .execute();
    expect((await produceScheduledReports(deps(), '2026-10')).waiting).toBe(true);
    await ctx.rt.db.deleteFrom('stream_dirty').where('party_key', '=', 'backlog-test').execute();
  });

  it('two workers running the monthly job at once produce and render each report once', async () => {
    const now = () => new Date('2026-11-01T02:30:00+08:00');
    const processor = createReportsProcessor({ ...deps(), dataDir: ctx.config.dataDir, now });
    // Two worker "processes", each consuming every reports partition.
    const connections = [
      createRedis(ctx.config.redisUrl, 'worker'),
      createRedis(ctx.config.redisUrl, 'worker'),
    ];
    const workers = connections.flatMap((connection) =>
      Array.from(
        { length: ctx.config.queuePartitions },
        (_, p) =>
          new Worker(queueName('reports', p), processor, {
            connection,
            prefix: ctx.redisPrefix,
            concurrency: 1,
          }),
      ),
    );
    try {
      // Two deliveries of the month's tick (two schedulers, or a tick and its retry).
      const q = ctx.rt.queues.reportsSchedulerQueue;
      await q.add('reports.monthly', {}, { jobId: 'tick-a' });
      await q.add('reports.monthly', {}, { jobId: 'tick-b' });
      const until = Date.now() + 90_000;
      let rows = await reportsOf('2026-10');
      while (
        (rows.length < SCHEDULED_DIVISIONS.length || rows.some((r) => r.status !== 'done')) &&
        Date.now() < until
      ) {
        await new Promise((r) => setTimeout(r, 250));
        rows = await reportsOf('2026-10');
      }
      expect(rows.map((r) => [r.division, r.status])).toEqual(
        [...SCHEDULED_DIVISIONS].sort().map((d) => [d, 'done']),
      );
      // Rendered once each: one attempt, three files.
      expect(rows.map((r) => r.attempts)).toEqual(rows.map(() => 1));
      const files = await ctx.rt.db
        .selectFrom('report_files')
        .select((eb) => eb.fn.countAll<bigint>().as('n'))
        .where(
          'report_id',
          'in',
          rows.map((r) => r.id),
        )
        .executeTakeFirstOrThrow();
      expect(files.n).toBe(BigInt(3 * SCHEDULED_DIVISIONS.length));
    } finally {
      await Promise.all(workers.map((w) => w.close()));
      for (const c of connections) c.disconnect();
    }
  }, 120_000);
});

describe('the sweep', () => {
  it('catches up a missed run only after the scheduled moment, and only for missing divisions', async () => {
    // An officer's report of 440703 for 2026-09, asked after the period closed.
    await requestReport(ctx.rt.db, {
      kind: 'monthly_anomalies',
      division: '440703',
      period: '2026-09',
      requestedBy: 'officer:li.wei',
    });
    const moment = scheduledMoment('2026-09');
    const early = await sweepReports(deps(), new Date(moment.getTime() + CATCH_UP_AFTER_MS - 1000));
    expect(early.caughtUp).toBeNull();
    expect((await reportsOf('2026-09')).map((r) => r.division)).toEqual(['440703']);

    const late = await sweepReports(deps(), new Date(moment.getTime() + CATCH_UP_AFTER_MS + 1000));
    expect(late.caughtUp?.period).toBe('2026-09');
    expect(late.caughtUp?.reports.map((r) => r.division).sort()).toEqual(
      SCHEDULED_DIVISIONS.filter((d) => d !== '440703').sort(),
    );
    const rows = await reportsOf('2026-09');
    expect(rows).toHaveLength(SCHEDULED_DIVISIONS.length);
    expect(rows.find((r) => r.division === '440703')!.requested_by).toBe('officer:li.wei');

    const again = await sweepReports(deps(), new Date(moment.getTime() + 2 * CATCH_UP_AFTER_MS));
    expect(again.caughtUp).toBeNull();
    expect(await reportsOf('2026-09')).toHaveLength(SCHEDULED_DIVISIONS.length);
  }, 60_000);

  it('hands a report whose job was lost back to the queue', async () => {
    const [stale] = await reportsOf('2026-09');
    await ctx.rt.db
      .updateTable('reports')
      .set({ updated_at: new Date(Date.now() - 10 * 60_000) })
      .where('id', '=', stale!.id)
      .execute();
    const out = await sweepReports(deps(), new Date('2026-10-15T00:00:00+08:00'));
    expect(out.requeued).toBeGreaterThanOrEqual(1);
    const jobs = await Promise.all(
      ctx.rt.queues.queues
        .filter((q) => q.name.startsWith('{reports-'))
        .map((q) => q.getJob(`rp.${stale!.id}.${stale!.attempts}`)),
    );
    expect(jobs.some((j) => j !== undefined)).toBe(true);
  });

  it('a render that fails on its last attempt marks the report failed; asking again queues it again', async () => {
    const { report } = await requestReport(ctx.rt.db, {
      kind: 'monthly_anomalies',
      division: '440705',
      period: '2026-07',
      requestedBy: 'cli',
    });
    // Break the frozen content so that rendering throws.
    await ctx.rt.db.updateTable('reports').set({ content: '{}' }).where('id', '=', report.id).execute();
    await expect(renderReport({ db: ctx.rt.db }, report.id, { finalAttempt: false })).rejects.toThrow();
    expect((await reportsOf('2026-07'))[0]!.status).toBe('running');
    await expect(renderReport({ db: ctx.rt.db }, report.id, { finalAttempt: true })).rejects.toThrow();
    const failed = (await reportsOf('2026-07'))[0]!;
    expect(failed.status).toBe('failed');
    const again = await requestReport(ctx.rt.db, {
      kind: 'monthly_anomalies',
      division: '440705',
      period: '2026-07',
      requestedBy: 'cli',
    });
    expect(again).toMatchObject({ created: false, requeued: true });
    expect(again.report).toMatchObject({ id: report.id, status: 'queued' });
  });
});
