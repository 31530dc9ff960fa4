import { sql } from 'kysely';
import type { Logger } from '../log';
import { startPeriodic } from '../ops/periodic';
import type { Db } from './database';

/** Tables whose statistics the hot queries' plans depend on. */
const PLANNED_TABLES = [
  'inbound_events',
  'trades',
  'trade_versions',
  'stream_entries',
  'allocations',
  'sale_results',
  'purchase_remainders',
  'payments',
  'payment_links',
  'weighings',
  'invoices',
  'invoice_links',
  'trade_flows',
  'parties',
  'anomalies',
] as const;

/**
 * ANALYZE the tables that changed a lot since their last statistics. Autovacuum does this too,
 * but only after its nap (a minute) and by a 10% rule: a table that grows from empty at
 * thousands of rows a second is planned for minutes as if it were empty, and a nested loop over
 * a "tiny" table with thousands of rows takes seconds. Cheap when nothing is stale.
 */
export async function refreshStaleStatistics(db: Db): Promise<string[]> {
  const stale = await sql<{ relname: string }>`
    SELECT relname FROM pg_stat_user_tables
    WHERE relname = ANY(${[...PLANNED_TABLES]}::text[])
      AND n_mod_since_analyze > greatest(500, n_live_tup / 5)`.execute(db);
  for (const { relname } of stale.rows) {
    // Identifiers come from the fixed list above, never from input.
    await sql`ANALYZE ${sql.table(relname)}`.execute(db);
  }
  return stale.rows.map((r) => r.relname);
}

// Any constant of our own: one worker process at a time refreshes statistics.
const STATISTICS_LOCK = 7_146_220_334;

/**
 * Runs refreshStaleStatistics every `intervalMs` in one worker process at a time (a
 * session-level advisory lock taken with try, held only for the round). A data set that grows
 * from empty at thousands of rows a second is planned as if empty until its tables are analyzed:
 * at the start of a 200,000-event backlog the workers processed a third of their later rate for
 * the ten seconds before the sweep's first round (every 15 s) analyzed them. Checking costs one
 * query on pg_stat_user_tables.
 */
export function startStatisticsRefresher(
  db: Db,
  log: Logger,
  intervalMs = 2_000,
): { stop: () => Promise<void> } {
  const round = () =>
    db.connection().execute(async (conn) => {
      const got = await sql<{
        locked: boolean;
      }>`SELECT pg_try_advisory_lock(${STATISTICS_LOCK}) AS locked`.execute(conn);
      if (!got.rows[0]?.locked) return;
      try {
        const analyzed = await refreshStaleStatistics(conn);
        if (analyzed.length > 0) log.debug({ tables: analyzed }, 'refreshed planner statistics');
      } finally {
        await sql`SELECT pg_advisory_unlock(${STATISTICS_LOCK})`.execute(conn);
      }
    });
  return startPeriodic('statistics refresh', round, intervalMs, log);
}

/**
 * Whether the server vacuums tables on its own. With autovacuum off, nothing sets the visibility
 * map, so the covering indexes' index-only scans read the table for every row (and dead rows pile
 * up): reads get several times slower. It is a server setting, so a process can only warn.
 */
export async function autovacuumEnabled(db: Db): Promise<boolean> {
  const r = await sql<{ autovacuum: string }>`SHOW autovacuum`.execute(db);
  return r.rows[0]?.autovacuum === 'on';
}
