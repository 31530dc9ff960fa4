import type { Job } from 'bullmq';
import type { Db } from '../src/db/database';
import type { Metrics } from '../src/ops/metrics';
import { processEvents } from '../src/processing/events';
import { JOBS } from '../src/queue/jobs';

export function createEventsProcessor(deps: { db: Db; metrics: Metrics }) {
  return async (job: Job): Promise<{ processed: number; skipped: number }> => {
    const payload = JOBS['events.process'].parse(job.data);
    const result = await processEvents(deps.db, payload.platform, payload.event_ids);
    deps.metrics.eventsProcessed.inc({ outcome: 'processed' }, result.processed);
    deps.metrics.processingLatency.observe({ stage: 'handover' }, (Date.now() - job.timestamp) / 1000);
    return result;
  };
}
