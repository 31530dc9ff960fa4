import type { Job } from 'bullmq';
import type { Db } from '../src/db/database';
import type { Logger } from '../src/log';
import { JOBS } from '../src/queue/jobs';
import type { EventQueues } from '../src/queue/producer';
import { evaluatePeriod } from '../src/rules/engine';
import { evaluateDirtyPeriod, tickDataClocks } from '../src/rules/scheduling';
import type { Keyring } from '../src/security/keys';

/**
 * rules.evaluate: evaluates a marked period until no newer mark remains.
 * rules.tick (job scheduler): marks the data clocks' current periods.
 */
export function createRulesProcessor(deps: { db: Db; keyring: Keyring; queues: EventQueues; log: Logger }) {
  return async (job: Job) => {
    if (job.name === 'rules.tick') {
      JOBS['rules.tick'].schema.parse(job.data);
      const marks = await tickDataClocks(deps.db);
      await deps.queues.enqueueRules(marks);
      return { marked: marks.length };
    }
    const { period } = JOBS['rules.evaluate'].schema.parse(job.data);
    return evaluateDirtyPeriod(deps.db, period, (p) => evaluatePeriod(deps.db, deps.keyring, p), deps.log);
  };
}
