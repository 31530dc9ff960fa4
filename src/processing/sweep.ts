import { sql } from 'kysely';
import type { Db } from '../db/database';
import { DEFAULT_TOLERANCES, type Tolerances } from '../domain/tolerances';
import type { Logger } from '../log';
import type { Metrics } from '../ops/metrics';
import { startPeriodic } from '../ops/periodic';
import type { EventQueues } from '../queue/producer';
import { findStaleDirtyPeriods } from '../repositories/anomalies.repository';
import { findStalePending } from '../repositories/events.repository';
import { findStaleDirtyStreams } from './allocate';
import { recheckMatches } from './matching';

// Shared by every worker process: only one of them sweeps at a time.
const SWEEP_LOCK = 7_146_220_332;
const SWEEP_BATCH = 5_000;
const RECHECK_BATCH = 500;

export interface SweepResult {
  events: number;
  streams: number;
  periods: number;
  /** Groups of undeclared documents matched again (match_rechecks). */
  rechecked: number;
}

/**
 * The safety net that makes Redis disposable: work committed to PostgreSQL but not done after
 * `minAgeSeconds` — events still 'pending', streams still marked dirty — is handed to the queue
 * again. This covers an API process that could not reach Redis after commit, a Redis that lost
 * its data (FLUSHALL, failover), a job that vanished, and an event whose processing failed (it is
 * retried this way until it is marked dead). Job ids derive from the rows' keys, so work whose
 * job is merely slow is not queued twice; if it is processed twice, processing is idempotent.
 * Timer-driven in each worker process rather than a BullMQ scheduler, because the scheduler
 * itself lives in the Redis whose loss this must survive.
 */
export async function sweepOnce(
  deps: { db: Db; queues: EventQueues; metrics: Metrics; log: Logger; tolerances?: Tolerances },
  minAgeSeconds: number,
): Promise<SweepResult> {
  return deps.db.transaction().execute(async (trx) => {
    const { rows } = await sql<{
      locked: boolean;
    }>`SELECT pg_try_advisory_xact_lock(${SWEEP_LOCK}) AS locked`.execute(trx);
    if (!rows[0]?.locked) return { events: 0, streams: 0, periods: 0, rechecked: 0 };
    // Bounded per round: a huge backlog is handed over over several rounds.
    const stale = await findStalePending(trx, minAgeSeconds, SWEEP_BATCH);
    if (stale.length > 0) {
      await deps.queues.enqueue(stale, { resend: true });
      deps.metrics.sweepRequeued.inc(stale.length);
      deps.log.info({ events: stale.length }, 'sweep handed pending events to the queue');
    }
    const streams = await findStaleDirtyStreams(trx, minAgeSeconds, SWEEP_BATCH);
    if (streams.length > 0) {
      await deps.queues.enqueueStreams(streams, { resend: true });
      deps.log.info({ streams: streams.length }, 'sweep handed dirty streams to the queue');
    }
    await deps.queues.ensureSchedulers();
    const periods = await findStaleDirtyPeriods(trx, minAgeSeconds);
    if (periods.length > 0) await deps.queues.enqueueRules(periods, { resend: true });
    // Undeclared documents' groups matched again once every transaction of their time has
    // committed (match_rechecks), in a transaction of their own; one sweeper at a time.
    const recheck = await recheckMatches(deps.db, deps.tolerances ?? DEFAULT_TOLERANCES, {
      minAgeSeconds,
      limit: RECHECK_BATCH,
    });
    if (recheck.trades.length > 0) {
      deps.log.info(
        { groups: recheck.groups, trades: recheck.trades.length },
        'matched undeclared documents again: links changed',
      );
    }
    if (recheck.periods.length > 0) await deps.queues.enqueueRules(recheck.periods);
    return {
      events: stale.length,
      streams: streams.length,
      periods: periods.length,
      rechecked: recheck.groups,
    };
  });
}

export function startSweeper(
  deps: { db: Db; queues: EventQueues; metrics: Metrics; log: Logger },
  opts: { intervalSeconds: number; minAgeSeconds: number },
): { stop: () => Promise<void> } {
  return startPeriodic(
    'sweep',
    () => sweepOnce(deps, opts.minAgeSeconds),
    opts.intervalSeconds * 1000,
    deps.log,
  );
}
