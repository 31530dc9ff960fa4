import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStatisticsRefresher } from '../../src/db/maintenance';
import { createTestContext, type TestContext } from '../support/context';

/**
 * Planner statistics of tables that grow fast are refreshed by the workers every few seconds
 * (autovacuum's analyze comes later, or never when it is off): a table that went from empty to
 * thousands of rows is analyzed without waiting for anything else.
 */
let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => ctx.close());

const lastAnalyze = async (table: string) =>
  (
    await sql<{ at: Date | null }>`
      SELECT greatest(last_analyze, last_autoanalyze) AS at FROM pg_stat_user_tables WHERE relname = ${table}`.execute(
      ctx.rt.db,
    )
  ).rows[0]?.at ?? null;

describe('statistics refresher', () => {
  it('analyzes a planned table that changed a lot since its last statistics', async () => {
    const before = await lastAnalyze('parties');
    await sql`
      INSERT INTO parties (party_key, kind, name, division)
      SELECT 'np_stat' || lpad(g::text, 29, '0'), 'natural_person', 'p' || g, '440703'
      FROM generate_series(1, 2000) AS g`.execute(ctx.rt.db);
    // PostgreSQL publishes an idle connection's table counters within 10 s (PGSTAT_IDLE_INTERVAL).
    const refresher = startStatisticsRefresher(ctx.rt.db, ctx.rt.log, 100);
    try {
      let after: Date | null = null;
      for (let i = 0; i < 250 && (after === null || (before !== null && after <= before)); i++) {
        await new Promise((r) => setTimeout(r, 100));
        after = await lastAnalyze('parties');
      }
      expect(after).not.toBeNull();
      if (before !== null) expect(after!.getTime()).toBeGreaterThan(before.getTime());
      const rows = await sql<{ n: number }>`
        SELECT reltuples::int AS n FROM pg_class WHERE relname = 'parties'`.execute(ctx.rt.db);
      expect(rows.rows[0]!.n).toBeGreaterThanOrEqual(2000);
    } finally {
      await refresher.stop();
    }
  });
});
