import type { Db } from '../db/database';
import { addMonths, periodOfMs } from '../domain/rules/types';
import type { Logger } from '../log';
import { markPeriodsDirty } from '../repositories/anomalies.repository';
import type { EvaluationResult } from './engine';

const MAX_ROUNDS = 10;

/**
 * Evaluates a period marked dirty, again and again while newer marks arrive during an
 * evaluation; clears the mark only for the generation it evaluated. Safe to run twice or in
 * several workers at once (the engine locks the period).
 */
export async function evaluateDirtyPeriod(
  db: Db,
  period: string,
  evaluate: (period: string) => Promise<EvaluationResult>,
  log?: Logger,
): Promise<{ rounds: number; last: EvaluationResult | null }> {
  let last: EvaluationResult | null = null;
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    const mark = await db
      .selectFrom('rule_dirty_periods')
      .select('generation')
      .where('period', '=', period)
      .executeTakeFirst();
    if (!mark) return { rounds: round - 1, last };
    last = await evaluate(period);
    if (last.detected || last.closed || last.reopened) {
      log?.info(
        {
          period,
          detected: last.detected,
          updated: last.updated,
          reopened: last.reopened,
          closed: last.closed,
        },
        'findings changed',
      );
    }
    const cleared = await db
      .deleteFrom('rule_dirty_periods')
      .where('period', '=', period)
      .where('generation', '=', mark.generation)
      .executeTakeFirst();
    if (cleared.numDeletedRows > 0n) return { rounds: round, last };
  }
  return { rounds: MAX_ROUNDS, last };
}

/** Marks every platform's data-clock month and the month before (where 7/30-day limits ripen). */
export async function tickDataClocks(db: Db): Promise<{ period: string; generation: bigint }[]> {
  const clocks = await db.selectFrom('platform_clocks').select('data_clock').execute();
  const periods = clocks.flatMap((c) => {
    const p = periodOfMs((c.data_clock as Date).getTime());
    return [p, addMonths(p, -1)];
  });
  return markPeriodsDirty(db, periods);
}
