import type { Job } from 'bullmq';
import { allocateDirtyStream } from '../src/processing/allocate';
import type { ProcessingContext } from '../src/processing/context';
import { JOBS } from '../src/queue/jobs';

/** streams.allocate: re-allocates one dirty (party, material) stream; a no-op when already clean. */
export function createStreamsProcessor(deps: { ctx: ProcessingContext }) {
  return async (job: Job) => {
    const payload = JOBS['streams.allocate'].schema.parse(job.data);
    return allocateDirtyStream(
      deps.ctx.db,
      { partyKey: payload.party_key, material: payload.material },
      deps.ctx.log,
    );
  };
}
