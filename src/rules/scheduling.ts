import { sql } from 'kysely';
import type { Db } from '../db/database';
import type { Logger } from '../log';
import { markPeriodsDirty } from '../repositories/anomalies.repository';
import type { EvaluationResult } from './engine';
import { periodsRipening } from './periods';

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
): Promise<{ rounds: number; last: EvaluationResult | null; postponed?: boolean }> {
  const last: EvaluationResult | null = null;
  if (await shouldWait(db, period)) return { rounds: 0, last, postponed: true };
  // Another worker is evaluating this period: it re-checks the mark when it finishes and goes
  // again if there is a newer one, so this job has nothing to add (and must not hold a
  // connection waiting for that worker's lock).
  if (!(await tryClaimPeriod(db, period))) return { rounds: 0, last };
  try {
    return await evaluateLoop(db, period, evaluate, log);
  } finally {
    await releasePeriod(db, period);
  }
}

async function evaluateLoop(
  db: Db,
  period: string,
  evaluate: (period: string) => Promise<EvaluationResult>,
  log?: Logger,
): Promise<{ rounds: number; last: EvaluationResult | null; postponed?: boolean }> {
  let last: EvaluationResult | null = null;
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    // The mark, and the database's clock when this round starts reading.
    const mark = await sql<{ generation: bigint; started_at: Date }>`
      SELECT generation, now() AS started_at FROM rule_dirty_periods WHERE period = ${period}`.execute(db);
    const m = mark.rows[0];
    if (!m) return { rounds: round - 1, last };
    // Marked again while the last round ran, and processing is still busy: this round's data is
    // already stale, so leave it for a later round, as for a first one (at most the staleness bound).
    if (round > 1 && (await shouldWait(db, period))) return { rounds: round - 1, last, postponed: true };
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
      .where('generation', '=', m.generation)
      .executeTakeFirst();
    if (cleared.numDeletedRows > 0n) return { rounds: round, last };
    // Marked again meanwhile: what came before this round started is evaluated, so the period has
    // been dirty since then.
    await db
      .updateTable('rule_dirty_periods')
      .set({ marked_at: m.started_at })
      .where('period', '=', period)
      .execute();
  }
  return { rounds: MAX_ROUNDS, last };
}

/** How long a marked period may wait for the pipeline to settle before it is evaluated anyway. */
export const MAX_RULES_STALENESS_SECONDS = 60;

/**
 * While events are still pending or streams still await allocation, the findings of a period
 * would change again in a moment: evaluating now only costs CPU that processing needs. Wait
 * (the mark stays), unless the period has been dirty for MAX_RULES_STALENESS_SECONDS (marked_at
 * is when it became dirty, or when the evaluation that saw it last started). Under a steady
 * stream of data a period is so evaluated about once per bound, not round after round.
 */
async function shouldWait(db: Db, period: string): Promise<boolean> {
  const r = await sql<{ wait: boolean }>`
    SELECT (EXISTS (SELECT 1 FROM inbound_events WHERE state = 'pending') OR EXISTS (SELECT 1 FROM stream_dirty))
       AND EXISTS (SELECT 1 FROM rule_dirty_periods WHERE period = ${period}
                   AND marked_at > now() - make_interval(secs => ${MAX_RULES_STALENESS_SECONDS})) AS wait`.execute(
    db,
  );
  return r.rows[0]?.wait === true;
}

/**
 * A claim on a period, held in the database so that it works across worker processes: a row
 * that expires, so a worker killed mid-evaluation does not block the period for ever.
 */
const CLAIM_SECONDS = 600;

async function tryClaimPeriod(db: Db, period: string): Promise<boolean> {
  const r = await sql<{ period: string }>`
    INSERT INTO rule_evaluation_claims AS c (period, claimed_until) VALUES (${period}, now() + make_interval(secs => ${CLAIM_SECONDS}))
    ON CONFLICT (period) DO UPDATE SET claimed_until = excluded.claimed_until WHERE c.claimed_until < now()
    RETURNING period`.execute(db);
  return r.rows.length > 0;
}

async function releasePeriod(db: Db, period: string): Promise<void> {
  await db.deleteFrom('rule_evaluation_claims').where('period', '=', period).execute();
}

/**
 * Marks, for every platform's data clock, the months where time limits ripen (periodsRipening:
 * the same months processing marks as the clock advances), as a safety net.
 */
export async function tickDataClocks(db: Db): Promise<{ period: string; generation: bigint }[]> {
  const clocks = await db.selectFrom('platform_clocks').select('data_clock').execute();
  return markPeriodsDirty(
    db,
    clocks.flatMap((c) => periodsRipening((c.data_clock as Date).getTime())),
  );
}
