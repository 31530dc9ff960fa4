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
    const result = await evaluateDirtyPeriod(
      deps.db,
      period,
      (p) => evaluatePeriod(deps.db, deps.keyring, p),
      deps.log,
    );
    if (result.postponed) {
      // Processing is still busy: look again a little later (the mark stays, so the sweep would too).
      const mark = await deps.db
        .selectFrom('rule_dirty_periods')
        .select('generation')
        .where('period', '=', period)
        .executeTakeFirst();
      if (mark)
        await deps.queues.enqueueRules([{ period, generation: mark.generation }], {
          resend: true,
          delayMs: 5_000,
        });
    }
    return { rounds: result.rounds, postponed: result.postponed ?? false };
  };
}
