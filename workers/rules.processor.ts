import type { Job } from 'bullmq';
import type { Db } from '../src/db/database';
import type { Logger } from '../src/log';
import { JOBS } from '../src/queue/jobs';
import type { EventQueues } from '../src/queue/producer';
import { evaluatePeriod } from '../src/rules/engine';
import { evaluateDirtyPeriod, tickDataClocks } from '../src/rules/scheduling';
import type { Keyring } from '../src/security/keys';

/**
 * Rule evaluations a worker process runs at once, whatever the number of partitions. Each one
 * holds a whole month's facts (trades from 90 days before the month, payments, allocations…) in
 * memory; with one consumer per partition a process evaluated up to four months at once, which
 * took its RSS from ~340 to ~470 MiB. A waiting job holds no claim on its period (the claim is
 * taken after the wait), so other processes can evaluate it meanwhile.
 */
export const MAX_EVALUATIONS_PER_PROCESS = 1;

/** How long a postponed evaluation waits before it looks again (at least the follow-up slot, 5 s). */
const POSTPONE_MS = 5_000;

/** A counting semaphore: `run` waits for a free slot, in arrival order. */
export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly slots: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.slots) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await fn();
    } finally {
      // Hand the slot straight to the next waiter (active stays the same), or free it.
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

/**
 * rules.evaluate: evaluates a marked period until no newer mark remains.
 * rules.tick (job scheduler): marks the data clocks' current periods.
 */
export function createRulesProcessor(deps: {
  db: Db;
  keyring: Keyring;
  queues: EventQueues;
  log: Logger;
  maxEvaluations?: number;
}) {
  const limiter = new Limiter(deps.maxEvaluations ?? MAX_EVALUATIONS_PER_PROCESS);
  return async (job: Job) => {
    if (job.name === 'rules.tick') {
      JOBS['rules.tick'].schema.parse(job.data);
      const marks = await tickDataClocks(deps.db);
      await deps.queues.enqueueRules(marks);
      return { marked: marks.length };
    }
    const { period, generation } = JOBS['rules.evaluate'].schema.parse(job.data);
    // Every mark adds a job of its own generation, so a busy period has many queued. Only the
    // newest one has anything to do: an older job leaves it at once, before it queues for the
    // process's evaluation slot behind evaluations of whole months. (The newest job is queued,
    // or lost with Redis and re-added by the sweep; a job without a generation always goes on.)
    if (generation !== undefined) {
      const mark = await deps.db
        .selectFrom('rule_dirty_periods')
        .select('generation')
        .where('period', '=', period)
        .executeTakeFirst();
      if (!mark) return { rounds: 0, postponed: false, skipped: 'clean' };
      if (mark.generation > BigInt(generation)) return { rounds: 0, postponed: false, skipped: 'superseded' };
    }
    const result = await limiter.run(() =>
      evaluateDirtyPeriod(deps.db, period, (p) => evaluatePeriod(deps.db, deps.keyring, p), deps.log),
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
          followUp: true,
          delayMs: POSTPONE_MS,
        });
    }
    return { rounds: result.rounds, postponed: result.postponed ?? false };
  };
}
