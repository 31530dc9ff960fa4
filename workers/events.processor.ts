import type { Job } from 'bullmq';
import type { Metrics } from '../src/ops/metrics';
import type { ProcessingContext } from '../src/processing/context';
import { processEvents } from '../src/processing/events';
import { JOBS } from '../src/queue/jobs';
import type { EventQueues } from '../src/queue/producer';

/**
 * events.process: applies a chunk of stored events, then (after commit) queues the allocation of
 * the streams they touched. If that enqueue fails the marks stay in PostgreSQL and the sweep
 * queues them later, so the job still succeeds.
 */
export function createEventsProcessor(deps: {
  ctx: ProcessingContext;
  queues: EventQueues;
  metrics: Metrics;
}) {
  return async (job: Job) => {
    const payload = JOBS['events.process'].schema.parse(job.data);
    const result = await processEvents(deps.ctx, payload.platform, payload.event_ids);
    deps.metrics.eventsProcessed.inc({ outcome: 'processed' }, result.processed);
    if (result.failed) deps.metrics.eventsProcessed.inc({ outcome: 'failed' }, result.failed);
    if (result.dead) deps.metrics.eventsProcessed.inc({ outcome: 'dead' }, result.dead);
    const now = Date.now();
    for (const at of result.receivedAt)
      deps.metrics.processingLatency.observe({ stage: 'normalised' }, (now - at.getTime()) / 1000);
    try {
      if (result.marks.length > 0) await deps.queues.enqueueStreams(result.marks);
      if (result.periods.length > 0) await deps.queues.enqueueRules(result.periods);
    } catch (err) {
      deps.ctx.log.warn({ err: (err as Error).message }, 'could not queue follow-up work; the sweep will');
    }
    return { processed: result.processed, skipped: result.skipped, failed: result.failed, dead: result.dead };
  };
}
