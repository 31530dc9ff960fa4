import { sql } from 'kysely';
import type { Db } from '../db/database';
import { periodWindow } from '../domain/rules/types';
import { shanghaiDate } from '../domain/time';
import type { FindingInput, MonthlyAnomaliesInput, UnsourcedInput } from '../reports/monthly-anomalies';
import { TOP_N } from '../reports/monthly-anomalies';
import { settingsInForce } from './anomalies.repository';
import { type DivisionFilter, inDivisions } from './officers.repository';

/**
 * Compliance reports (sql/202611280500_reports.sql): loading what a report says, and storing
 * reports and their files. Functions take the connection or transaction first; the caller owns
 * the transaction (src/reports/report.service.ts).
 */

/** What a division covers, as a filter: 440700 → every 4407xx; a district code → itself. */
export function divisionScope(code: string): DivisionFilter {
  if (code.endsWith('0000')) return { all: false, exact: [], prefixes: [code.slice(0, 2)] };
  if (code.endsWith('00')) return { all: false, exact: [], prefixes: [code.slice(0, 4)] };
  return { all: false, exact: [code], prefixes: [] };
}

/** Everything `buildMonthlyAnomalies` needs for one division and period, in four queries. */
export async function loadMonthlyAnomaliesInput(
  db: Db,
  division: string,
  period: string,
): Promise<MonthlyAnomaliesInput> {
  const w = periodWindow(period);
  const start = new Date(w.startMs);
  const end = new Date(w.endMs);
  const scope = divisionScope(division);

  const findings = await db
    .selectFrom('anomalies as a')
    .leftJoin('parties as p', 'p.party_key', 'a.party_key')
    .select([
      'a.id',
      'a.rule',
      'a.severity',
      'a.status',
      'a.party_key',
      'p.name as party_name',
      'p.kind as party_kind',
      'a.division',
      'a.trades',
      'a.documents',
      'a.summary_zh',
      'a.summary_en',
      'a.evidence',
      'a.rule_version',
      'a.first_detected_at',
      'a.reviewed_by',
      'a.reviewed_at',
    ])
    .where('a.period', '=', period)
    .where(inDivisions('a.division', scope))
    .execute();

  // Σ per trading enterprise (a recycler or sorting centre, not a generator: isTrading in
  // src/domain/rules/stock-rules.ts) of the sales it made in the month. Only they can sell beyond
  // what they bought: a generator's or an unregistered enterprise's own scrap is an origin
  // (`enterprise_kg` of a chain, CONTRACT.md 3), and a natural person has no purchases to source it
  // from. sum(int8) is numeric in PostgreSQL: cast back to int8.
  const unsourced = await sql<{
    party_key: string;
    name: string;
    division: string;
    sold_g: bigint;
    unsourced_g: bigint;
    materials: string[];
  }>`
    SELECT s.party_key, p.name, p.division,
           sum(s.quantity_g)::int8 AS sold_g, sum(s.unsourced_g)::int8 AS unsourced_g,
           array_agg(DISTINCT s.material ORDER BY s.material) FILTER (WHERE s.unsourced_g > 0) AS materials
    FROM sale_results s JOIN parties p ON p.party_key = s.party_key
    WHERE s.sale_at >= ${start} AND s.sale_at < ${end}
      AND p.kind = 'enterprise' AND NOT ('generator' = ANY (p.roles))
      AND ('recycler' = ANY (p.roles) OR 'sorting_center' = ANY (p.roles))
      AND ${inDivisions('p.division', scope)}
    GROUP BY s.party_key, p.name, p.division
    HAVING sum(s.unsourced_g) > 0
    ORDER BY sum(s.unsourced_g) DESC, s.party_key
    LIMIT ${TOP_N}`.execute(db);

  // A trade is the division's when its seller or its buyer is located there. An invoice is
  // expected from an enterprise seller and for a reverse-invoiced sale (src/domain/flows.ts).
  const coverage = await sql<{
    trades: bigint;
    amount_fen: bigint;
    payment_n: bigint;
    payment_fen: bigint;
    weighing_n: bigint;
    weighing_fen: bigint;
    expected_n: bigint;
    expected_fen: bigint;
    invoice_n: bigint;
    invoice_fen: bigint;
    reconciled: bigint;
    pending: bigint;
    discrepant: bigint;
    not_computed: bigint;
  }>`
    WITH t AS (
      SELECT t.total_fen, f.payment_status, f.weighing_status, f.invoice_status, f.overall,
             (t.seller_kind = 'enterprise' OR t.tax_treatment = 'reverse_invoice') AS expects_invoice
      FROM trades t
      LEFT JOIN trade_flows f ON f.platform = t.platform AND f.trade_id = t.trade_id
      WHERE t.status = 'active' AND t.occurred_at >= ${start} AND t.occurred_at < ${end}
        AND (${inDivisions('t.seller_division', scope)} OR ${inDivisions('t.buyer_division', scope)})
    )
    SELECT count(*) AS trades,
           coalesce(sum(total_fen), 0)::int8 AS amount_fen,
           count(*) FILTER (WHERE payment_status = 'matched') AS payment_n,
           coalesce(sum(total_fen) FILTER (WHERE payment_status = 'matched'), 0)::int8 AS payment_fen,
           count(*) FILTER (WHERE weighing_status = 'matched') AS weighing_n,
           coalesce(sum(total_fen) FILTER (WHERE weighing_status = 'matched'), 0)::int8 AS weighing_fen,
           count(*) FILTER (WHERE expects_invoice) AS expected_n,
           coalesce(sum(total_fen) FILTER (WHERE expects_invoice), 0)::int8 AS expected_fen,
           count(*) FILTER (WHERE expects_invoice AND invoice_status = 'matched') AS invoice_n,
           coalesce(sum(total_fen) FILTER (WHERE expects_invoice AND invoice_status = 'matched'), 0)::int8 AS invoice_fen,
           count(*) FILTER (WHERE overall = 'reconciled') AS reconciled,
           count(*) FILTER (WHERE overall = 'pending') AS pending,
           count(*) FILTER (WHERE overall = 'discrepant') AS discrepant,
           count(*) FILTER (WHERE overall IS NULL) AS not_computed
    FROM t`.execute(db);
  const c = coverage.rows[0]!;

  // The engine evaluates a period with the settings in force on its first day.
  const monthStart = shanghaiDate(w.startMs);
  const settings = await settingsInForce(db, monthStart);

  return {
    division,
    period,
    ruleVersions: Object.fromEntries([...settings].map(([rule, s]) => [rule, s.version])),
    findings: findings.map(
      (f): FindingInput => ({
        id: f.id,
        rule: f.rule,
        severity: f.severity,
        status: f.status,
        party_key: f.party_key,
        party_name: f.party_name,
        party_kind: f.party_kind,
        division: f.division,
        trades: Array.isArray(f.trades) ? (f.trades as unknown as FindingInput['trades']) : [],
        documents: Array.isArray(f.documents) ? (f.documents as unknown as FindingInput['documents']) : [],
        summary_zh: f.summary_zh,
        summary_en: f.summary_en,
        evidence: f.evidence,
        rule_version: f.rule_version,
        first_detected_at: f.first_detected_at,
        reviewed_by: f.reviewed_by,
        reviewed_at: f.reviewed_at,
      }),
    ),
    unsourced: unsourced.rows.map((u): UnsourcedInput => ({ ...u, materials: u.materials ?? [] })),
    coverage: {
      trades: c.trades,
      amount_fen: c.amount_fen,
      payment: { n: c.payment_n, fen: c.payment_fen },
      weighing: { n: c.weighing_n, fen: c.weighing_fen },
      invoice_expected: { n: c.expected_n, fen: c.expected_fen },
      invoice: { n: c.invoice_n, fen: c.invoice_fen },
      overall: {
        reconciled: c.reconciled,
        pending: c.pending,
        discrepant: c.discrepant,
        not_computed: c.not_computed,
      },
    },
  };
}

/** The latest data clock of any platform (the latest event time received), or null. */
export async function latestDataClock(db: Db): Promise<Date | null> {
  const row = await db
    .selectFrom('platform_clocks')
    .select((eb) => eb.fn.max('data_clock').as('clock'))
    .executeTakeFirst();
  return (row?.clock as Date | null | undefined) ?? null;
}

/**
 * Whether processing is behind: events still pending, or streams still waiting for allocation,
 * since more than `olderThanSeconds` ago. Live traffic is processed within seconds, so only a
 * backlog (a backfill, workers that were down) leaves work that old.
 */
export async function processingBacklog(
  db: Db,
  olderThanSeconds: number,
): Promise<{ pendingEvents: boolean; dirtyStreams: boolean }> {
  const r = await sql<{ events: boolean; streams: boolean }>`
    SELECT EXISTS (SELECT 1 FROM inbound_events WHERE state = 'pending'
                     AND received_at < now() - make_interval(secs => ${olderThanSeconds})) AS events,
           EXISTS (SELECT 1 FROM stream_dirty
                     WHERE marked_at < now() - make_interval(secs => ${olderThanSeconds})) AS streams`.execute(
    db,
  );
  const row = r.rows[0]!;
  return { pendingEvents: row.events, dirtyStreams: row.streams };
}

// ---------------------------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------------------------

export const REPORT_STATUSES = ['queued', 'running', 'done', 'failed'] as const;
export type ReportStatus = (typeof REPORT_STATUSES)[number];
export const REPORT_FORMATS = ['csv', 'xlsx', 'pdf'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** A report without its content and files. */
export interface ReportRow {
  id: bigint;
  kind: string;
  division: string;
  period: string;
  status: ReportStatus;
  requested_by: string;
  requested_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  data_clock: Date | null;
  rule_versions: Record<string, number>;
  data_version: string;
  attempts: number;
  error: string | null;
}

export interface ReportFileMeta {
  format: ReportFormat;
  content_type: string;
  file_name: string;
  sha256: string;
  size_bytes: number;
}

const REPORT_COLUMNS = [
  'id',
  'kind',
  'division',
  'period',
  'status',
  'requested_by',
  'requested_at',
  'started_at',
  'finished_at',
  'data_clock',
  'rule_versions',
  'data_version',
  'attempts',
  'error',
] as const;

const toRow = (r: Record<(typeof REPORT_COLUMNS)[number], unknown>): ReportRow => r as unknown as ReportRow;

export interface NewReport {
  kind: string;
  division: string;
  period: string;
  requested_by: string;
  data_clock: Date | null;
  rule_versions: Record<string, number>;
  data_version: string;
  content: unknown;
}

/**
 * Inserts a report unless one with the same (kind, division, period, data version) exists;
 * returns the new row, or null when it existed.
 */
export async function insertReport(db: Db, r: NewReport): Promise<ReportRow | null> {
  const row = await db
    .insertInto('reports')
    .values({
      kind: r.kind,
      division: r.division,
      period: r.period,
      requested_by: r.requested_by,
      data_clock: r.data_clock,
      rule_versions: JSON.stringify(r.rule_versions),
      data_version: r.data_version,
      content: JSON.stringify(r.content),
    })
    .onConflict((oc) => oc.columns(['kind', 'division', 'period', 'data_version']).doNothing())
    .returning(REPORT_COLUMNS)
    .executeTakeFirst();
  return row ? toRow(row) : null;
}

export async function findReportByVersion(
  db: Db,
  k: { kind: string; division: string; period: string; data_version: string },
): Promise<ReportRow | undefined> {
  const row = await db
    .selectFrom('reports')
    .select(REPORT_COLUMNS)
    .where('kind', '=', k.kind)
    .where('division', '=', k.division)
    .where('period', '=', k.period)
    .where('data_version', '=', k.data_version)
    .executeTakeFirst();
  return row ? toRow(row) : undefined;
}

export async function findReport(db: Db, id: bigint): Promise<ReportRow | undefined> {
  const row = await db.selectFrom('reports').select(REPORT_COLUMNS).where('id', '=', id).executeTakeFirst();
  return row ? toRow(row) : undefined;
}

export async function findReportContent(db: Db, id: bigint): Promise<unknown> {
  const row = await db.selectFrom('reports').select('content').where('id', '=', id).executeTakeFirst();
  return row?.content;
}

export interface ReportCursor {
  atMicros: bigint;
  id: bigint;
}

export interface ListReportsQuery {
  /** The officer's scope: a report is listed when the scope covers its division. */
  scope: DivisionFilter;
  kind?: string;
  division?: string;
  period?: string;
  status?: ReportStatus;
  after?: ReportCursor;
  limit: number;
}

/** Reports newest first (requested_at, id descending), one more than `limit` to tell if more follow. */
export async function listReports(
  db: Db,
  q: ListReportsQuery,
): Promise<{ items: (ReportRow & { at_micros: bigint })[]; more: boolean }> {
  let query = db
    .selectFrom('reports')
    .select(REPORT_COLUMNS)
    // Microseconds since the epoch, exact (a JS Date would drop them): the keyset position.
    .select(sql<bigint>`(extract(epoch FROM requested_at) * 1000000)::int8`.as('at_micros'))
    .where(inDivisions('reports.division', q.scope));
  if (q.kind !== undefined) query = query.where('kind', '=', q.kind);
  if (q.division !== undefined) query = query.where('division', '=', q.division);
  if (q.period !== undefined) query = query.where('period', '=', q.period);
  if (q.status !== undefined) query = query.where('status', '=', q.status);
  if (q.after) {
    const at = q.after.atMicros;
    const id = q.after.id;
    query = query.where(
      sql<boolean>`((extract(epoch FROM requested_at) * 1000000)::int8, id) < (${at}::int8, ${id}::int8)`,
    );
  }
  const rows = await query
    .orderBy('requested_at', 'desc')
    .orderBy('id', 'desc')
    .limit(q.limit + 1)
    .execute();
  return {
    items: rows.slice(0, q.limit).map((r) => ({ ...toRow(r), at_micros: r.at_micros as bigint })),
    more: rows.length > q.limit,
  };
}

export async function listReportFiles(
  db: Db,
  ids: readonly bigint[],
): Promise<Map<string, ReportFileMeta[]>> {
  const out = new Map<string, ReportFileMeta[]>();
  if (ids.length === 0) return out;
  const rows = await db
    .selectFrom('report_files')
    .select(['report_id', 'format', 'content_type', 'file_name', 'sha256', 'size_bytes'])
    .where('report_id', 'in', [...ids])
    .orderBy('report_id')
    .orderBy('format')
    .execute();
  for (const r of rows) {
    const key = r.report_id.toString();
    const list = out.get(key) ?? [];
    if (list.length === 0) out.set(key, list);
    const { report_id: _id, ...meta } = r;
    list.push(meta as ReportFileMeta);
  }
  return out;
}

export async function findReportFile(
  db: Db,
  id: bigint,
  format: ReportFormat,
): Promise<(ReportFileMeta & { data: Buffer }) | undefined> {
  const row = await db
    .selectFrom('report_files')
    .select(['format', 'content_type', 'file_name', 'sha256', 'size_bytes', 'data'])
    .where('report_id', '=', id)
    .where('format', '=', format)
    .executeTakeFirst();
  return row as (ReportFileMeta & { data: Buffer }) | undefined;
}

/**
 * Marks a report as being produced (queued → running, counting the attempt); null when it is
 * done, failed or unknown.
 */
export async function startReport(db: Db, id: bigint): Promise<ReportRow | null> {
  const row = await db
    .updateTable('reports')
    .set((eb) => ({
      status: 'running',
      started_at: new Date(),
      attempts: eb('attempts', '+', 1),
      updated_at: new Date(),
    }))
    .where('id', '=', id)
    .where('status', 'in', ['queued', 'running'])
    .returning(REPORT_COLUMNS)
    .executeTakeFirst();
  return row ? toRow(row) : null;
}

/**
 * Locks a running report for rendering (FOR UPDATE SKIP LOCKED: a second renderer of the same
 * report gets null and leaves it to the first). Returns its content.
 */
export async function lockRunningReport(
  db: Db,
  id: bigint,
): Promise<{ row: ReportRow; content: unknown } | null> {
  const row = await db
    .selectFrom('reports')
    .select([...REPORT_COLUMNS, 'content'])
    .where('id', '=', id)
    .where('status', '=', 'running')
    .forUpdate()
    .skipLocked()
    .executeTakeFirst();
  if (!row) return null;
  const { content, ...rest } = row;
  return { row: toRow(rest), content };
}

export async function storeReportFiles(
  db: Db,
  id: bigint,
  files: readonly (ReportFileMeta & { data: Buffer })[],
): Promise<void> {
  if (files.length === 0) return;
  await db
    .insertInto('report_files')
    .values(files.map((f) => ({ report_id: id, ...f })))
    .onConflict((oc) => oc.columns(['report_id', 'format']).doNothing())
    .execute();
}

export async function finishReport(db: Db, id: bigint): Promise<void> {
  await db
    .updateTable('reports')
    .set({ status: 'done', finished_at: new Date(), error: null, updated_at: new Date() })
    .where('id', '=', id)
    .execute();
}

export async function failReport(db: Db, id: bigint, error: string): Promise<void> {
  await db
    .updateTable('reports')
    .set({ status: 'failed', finished_at: new Date(), error: error.slice(0, 2000), updated_at: new Date() })
    .where('id', '=', id)
    .where('status', '<>', 'done')
    .execute();
}

/** A failed report asked for again: back to queued. */
export async function requeueFailedReport(db: Db, id: bigint): Promise<ReportRow | null> {
  const row = await db
    .updateTable('reports')
    .set({ status: 'queued', error: null, finished_at: null, updated_at: new Date() })
    .where('id', '=', id)
    .where('status', '=', 'failed')
    .returning(REPORT_COLUMNS)
    .executeTakeFirst();
  return row ? toRow(row) : null;
}

/** Reports queued or running for longer than `minAgeSeconds` (their job may be lost). */
export async function findStaleReports(
  db: Db,
  minAgeSeconds: number,
  limit = 100,
): Promise<{ id: bigint; attempts: number }[]> {
  return db
    .selectFrom('reports')
    .select(['id', 'attempts'])
    .where('status', 'in', ['queued', 'running'])
    .where('updated_at', '<', sql<Date>`now() - make_interval(secs => ${minAgeSeconds})`)
    .orderBy('updated_at')
    .limit(limit)
    .execute();
}

/** Divisions that already have a report of (kind, period) requested at or after `since`. */
export async function divisionsReportedSince(
  db: Db,
  kind: string,
  period: string,
  since: Date,
): Promise<Set<string>> {
  const rows = await db
    .selectFrom('reports')
    .select('division')
    .distinct()
    .where('kind', '=', kind)
    .where('period', '=', period)
    .where('requested_at', '>=', since)
    .where('status', '<>', 'failed')
    .execute();
  return new Set(rows.map((r) => r.division));
}
