import { sql } from 'kysely';
import type { Db } from '../db/database';
import type { Logger } from '../log';
import type { Metrics } from '../ops/metrics';
import type { EventQueues } from '../queue/producer';
import { findStalePending } from '../repositories/events.repository';

// Shared by every worker process: only one of them sweeps at a time.
const SWEEP_LOCK = 7_146_220_332;
const SWEEP_BATCH = 5_000;

/**
 * The safety net that makes Redis disposable: events committed to PostgreSQL but still
 * 'pending' after `minAgeSeconds` are handed to the queue again. This covers an API process
 * that could not reach Redis after commit, a Redis that lost its data (FLUSHALL, failover) and a
 * job that vanished. Job ids derive from the event ids, so an event whose job is merely slow is
 * not queued twice by Redis; if it is processed twice, processing is idempotent anyway.
 * Timer-driven in each worker process rather than a BullMQ scheduler, because the scheduler
 * itself lives in the Redis whose loss this must survive.
 */
export async function sweepOnce(
  deps: { db: Db; queues: EventQueues; metrics: Metrics; log: Logger },
  minAgeSeconds: number,
): Promise<number> {
  return deps.db.transaction().execute(async (trx) => {
    const { rows } = await sql<{
      locked: boolean;
    }>`SELECT pg_try_advisory_xact_lock(${SWEEP_LOCK}) AS locked`.execute(trx);
    if (!rows[0]?.locked) return 0;
    let total = 0;
    // Bounded per round: a huge backlog is handed over over several rounds.
    const stale = await findStalePending(trx, minAgeSeconds, SWEEP_BATCH);
    if (stale.length > 0) {
      await deps.queues.enqueue(stale);
      total += stale.length;
      deps.metrics.sweepRequeued.inc(stale.length);
      deps.log.info({ events: stale.length }, 'sweep handed pending events to the queue');
    }
    return total;
  });
}

export function startSweeper(
  deps: { db: Db; queues: EventQueues; metrics: Metrics; log: Logger },
  opts: { intervalSeconds: number; minAgeSeconds: number },
): { stop: () => Promise<void> } {
  let running: Promise<unknown> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = sweepOnce(deps, opts.minAgeSeconds)
      .catch((err) => deps.log.warn({ err: (err as Error).message }, 'sweep failed; will retry'))
      .finally(() => {
        running = null;
      });
  }, opts.intervalSeconds * 1000);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
