import type { Db } from '../db/database';
import { addMonths, periodOfMs, periodWindow } from '../domain/rules/types';
import type { Logger } from '../log';
import { MONTHLY_REPORTS_SCHEDULE } from '../queue/jobs';
import type { EventQueues } from '../queue/producer';
import {
  divisionsReportedSince,
  findStaleReports,
  latestDataClock,
  processingBacklog,
} from '../repositories/reports.repository';
import { SCHEDULED_DIVISIONS } from './labels';
import { requestReport } from './report.service';

/**
 * The monthly schedule. A BullMQ job scheduler (`reports.monthly`, declared by
 * `EventQueues.ensureSchedulers`) fires at 02:30 Asia/Shanghai on the 1st; its handler requests the
 * previous month's monthly_anomalies report of 440700 and each of Jiangmen's seven districts, and
 * hands them to `reports.render` jobs.
 *
 * A period counts as closed for the schedule when the wall clock says so *and* the data clock —
 * the latest event time any platform has sent — has passed its end: a platform still catching up
 * on the month (a backfill, an outage) would otherwise get a report of half a month. Until then
 * the handler waits (returns `waiting`), and the sweep's catch-up produces the reports as soon as
 * the data clock passes the end. It waits too while processing is behind (events pending, or
 * streams waiting for allocation, for over BACKLOG_SECONDS): a backfill that has just carried the
 * data clock past the end is still being reconciled, and the report would show half of it.
 *
 * Once per period, whatever happens:
 * - requests are idempotent per (kind, division, period, data version) — a lock per (kind,
 *   division, period) and a unique key (see report.service.ts) — so two workers running the
 *   handler at once, or a retried job, store each report once;
 * - the workers' report sweep (`sweepReports`, on a timer) catches up a tick the scheduler never
 *   delivered (no worker up at the time, Redis lost its data): from `CATCH_UP_AFTER_MS` past the
 *   scheduled moment on, it requests the last closed period's report for each division that has
 *   none requested since the period ended. Until then it leaves the period to the scheduler, so
 *   the two do not race to produce two versions minutes apart.
 * The sweep also re-enqueues reports left queued or running (their job lost with Redis, or their
 * worker killed): the row in PostgreSQL is the truth, the job only a reminder.
 */

/** The sweep waits this long after the scheduled moment before it catches up. */
export const CATCH_UP_AFTER_MS = 15 * 60_000;
/** Work left this long means a backlog: scheduled reports wait for it (live work takes seconds). */
export const BACKLOG_SECONDS = 30;
/** A report queued or running for this long is handed to the queue again. */
export const STALE_REPORT_SECONDS = 120;

/** The latest Asia/Shanghai month that has ended at `now`. */
export function lastClosedPeriod(now: Date): string {
  return addMonths(periodOfMs(now.getTime()), -1);
}

/**
 * When the scheduler produces `period`'s reports: the schedule's hour and minute on the 1st of the
 * next month, Asia/Shanghai (read from the cron pattern, which fixes both).
 */
export function scheduledMoment(period: string): Date {
  const [, min, hour] = MONTHLY_REPORTS_SCHEDULE.pattern.split(' ').map(Number) as [number, number, number];
  const next = periodWindow(addMonths(period, 1));
  return new Date(next.startMs + (hour * 60 + min) * 60_000);
}

export interface ScheduleDeps {
  db: Db;
  queues: Pick<EventQueues, 'enqueueReports'>;
  log?: Logger;
}

export interface ScheduledRun {
  period: string;
  /** True when no platform's data clock has passed the period's end yet: nothing was requested. */
  waiting: boolean;
  reports: { division: string; id: string; created: boolean; status: string }[];
}

/**
 * Requests `period`'s monthly_anomalies report of every scheduled division (only those without a
 * report requested since the period ended, with `onlyMissing`) and enqueues their rendering.
 */
export async function produceScheduledReports(
  deps: ScheduleDeps,
  period: string,
  opts: { onlyMissing?: boolean } = {},
): Promise<ScheduledRun> {
  const closedAt = new Date(periodWindow(period).endMs);
  const clock = await latestDataClock(deps.db);
  if (!clock || clock.getTime() < closedAt.getTime()) {
    deps.log?.info(
      { period, data_clock: clock?.toISOString() ?? null },
      'scheduled reports wait for the data clock',
    );
    return { period, waiting: true, reports: [] };
  }
  const backlog = await processingBacklog(deps.db, BACKLOG_SECONDS);
  if (backlog.pendingEvents || backlog.dirtyStreams) {
    deps.log?.info(
      { period, pending_events: backlog.pendingEvents, dirty_streams: backlog.dirtyStreams },
      'scheduled reports wait for processing to catch up',
    );
    return { period, waiting: true, reports: [] };
  }
  const have = opts.onlyMissing
    ? await divisionsReportedSince(deps.db, 'monthly_anomalies', period, closedAt)
    : new Set<string>();
  const out: ScheduledRun = { period, waiting: false, reports: [] };
  const toRender: { id: bigint; attempt: number }[] = [];
  for (const division of SCHEDULED_DIVISIONS) {
    if (have.has(division)) continue;
    const { report, created, requeued } = await requestReport(deps.db, {
      kind: 'monthly_anomalies',
      division,
      period,
      requestedBy: 'schedule',
    });
    out.reports.push({ division, id: report.id.toString(), created, status: report.status });
    if (created || requeued || report.status === 'queued')
      toRender.push({ id: report.id, attempt: report.attempts });
  }
  if (toRender.length > 0) await deps.queues.enqueueReports(toRender);
  if (out.reports.some((r) => r.created)) {
    deps.log?.info(
      { period, created: out.reports.filter((r) => r.created).map((r) => r.division) },
      'scheduled reports requested',
    );
  }
  return out;
}

/** The `reports.monthly` job: the period that closed last, at the time the job runs. */
export function runMonthlyReports(deps: ScheduleDeps, now: Date = new Date()): Promise<ScheduledRun> {
  return produceScheduledReports(deps, lastClosedPeriod(now));
}

/** One round of the workers' report sweep (see the top of this file). */
export async function sweepReports(
  deps: ScheduleDeps,
  now: Date = new Date(),
): Promise<{ requeued: number; caughtUp: ScheduledRun | null }> {
  const stale = await findStaleReports(deps.db, STALE_REPORT_SECONDS);
  if (stale.length > 0) {
    await deps.queues.enqueueReports(stale.map((r) => ({ id: r.id, attempt: r.attempts })));
    deps.log?.info({ reports: stale.length }, 'sweep handed stale reports to the queue');
  }
  const period = lastClosedPeriod(now);
  let caughtUp: ScheduledRun | null = null;
  if (now.getTime() >= scheduledMoment(period).getTime() + CATCH_UP_AFTER_MS) {
    caughtUp = await produceScheduledReports(deps, period, { onlyMissing: true });
    if (caughtUp.reports.length === 0) caughtUp = null;
  }
  return { requeued: stale.length, caughtUp };
}
