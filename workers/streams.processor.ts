import type { Job } from 'bullmq';
import { allocateDirtyStreams, DEFAULT_STREAMS_PER_TRANSACTION } from '../src/processing/allocate';
import type { ProcessingContext } from '../src/processing/context';
import { JOBS } from '../src/queue/jobs';
import type { EventQueues } from '../src/queue/producer';

/**
 * streams.allocate: re-allocates the job's dirty (party, material) streams (a no-op for those
 * already clean), with other dirty streams taken along in the same transaction,
 * then queues the evaluation of the periods whose stock and chain findings may have changed.
 */
export function createStreamsProcessor(deps: { ctx: ProcessingContext; queues: EventQueues }) {
  return async (job: Job) => {
    const payload = JOBS['streams.allocate'].schema.parse(job.data);
    const result = await allocateDirtyStreams(
      deps.ctx.db,
      payload.streams.map((s) => ({ partyKey: s.party_key, material: s.material })),
      deps.ctx.log,
      { streamsPerTransaction: DEFAULT_STREAMS_PER_TRANSACTION },
    );
    if (result.periods.length > 0) {
      try {
        await deps.queues.enqueueRules(result.periods);
      } catch (err) {
        deps.ctx.log.warn({ err: (err as Error).message }, 'could not queue rule evaluation; the sweep will');
      }
    }
    return {
      rounds: result.rounds,
      streams: result.streams,
      sales: result.salesAllocated,
      clean: result.clean,
    };
  };
}
