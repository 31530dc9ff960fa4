import { sql } from 'kysely';
import type { Db } from '../db/database';
import { type DivisionFilter, inDivisions } from './officers.repository';

export interface AnomalyRow {
  id: bigint;
  rule: string;
  rule_version: number;
  severity: string;
  party_key: string;
  party_kind: string | null;
  party_name: string | null;
  division: string;
  period: string;
  trades: { id: string | null; platform: string; trade_id: string }[];
  documents: { kind: string; number: string }[];
  summary_zh: string;
  summary_en: string;
  evidence: Record<string, unknown>;
  status: string;
  closed_reason: string | null;
  reviewed_by: string | null;
  review_note: string | null;
  reviewed_at: Date | null;
  first_detected_at: Date;
  last_detected_at: Date;
}

export interface AnomalyFilters {
  scope: DivisionFilter;
  division?: DivisionFilter;
  rule?: string;
  severity?: string;
  status?: string;
  party?: string;
  period?: string;
  /** id of the last item of the previous page (ids descend). */
  beforeId?: bigint;
  limit: number;
}

const columns = sql`a.id, a.rule, a.rule_version, a.severity, a.party_key, p.kind AS party_kind, p.name AS party_name, a.division,
  a.period, a.trades, a.documents, a.summary_zh, a.summary_en, a.evidence, a.status, a.closed_reason, a.reviewed_by,
  a.review_note, a.reviewed_at, a.first_detected_at, a.last_detected_at`;

/** Findings visible in the scope (a finding belongs to its subject party's division), newest first. */
export async function listAnomalies(db: Db, f: AnomalyFilters): Promise<AnomalyRow[]> {
  const r = await sql<AnomalyRow>`
    SELECT ${columns} FROM anomalies a LEFT JOIN parties p ON p.party_key = a.party_key
    WHERE ${inDivisions('a.division', f.scope)}
      ${f.division ? sql`AND ${inDivisions('a.division', f.division)}` : sql``}
      ${f.rule ? sql`AND a.rule = ${f.rule}` : sql``}
      ${f.severity ? sql`AND a.severity = ${f.severity}` : sql``}
      ${f.status ? sql`AND a.status = ${f.status}` : sql`AND a.status <> 'closed'`}
      ${f.party ? sql`AND a.party_key = ${f.party}` : sql``}
      ${f.period ? sql`AND a.period = ${f.period}` : sql``}
      ${f.beforeId !== undefined ? sql`AND a.id < ${f.beforeId}` : sql``}
    ORDER BY a.id DESC LIMIT ${f.limit}`.execute(db);
  return r.rows;
}

export async function findAnomaly(db: Db, id: bigint): Promise<AnomalyRow | null> {
  const r = await sql<AnomalyRow>`
    SELECT ${columns} FROM anomalies a LEFT JOIN parties p ON p.party_key = a.party_key WHERE a.id = ${id}`.execute(
    db,
  );
  return r.rows[0] ?? null;
}

export async function anomalyHistory(db: Db, id: bigint) {
  return db
    .selectFrom('anomaly_events')
    .select(['at', 'kind', 'actor', 'note'])
    .where('anomaly_id', '=', id)
    .orderBy('at')
    .execute();
}

/**
 * Records a supervisor's decision. Only a finding that still stands (open, confirmed or
 * dismissed) can be reviewed; a decision may be revised, and every one is kept in the history.
 */
export async function reviewAnomaly(
  db: Db,
  id: bigint,
  review: { decision: 'confirmed' | 'dismissed'; note: string; reviewer: string },
): Promise<'ok' | 'not_found' | 'closed'> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('anomalies')
      .select(['status'])
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst();
    if (!row) return 'not_found';
    if (row.status === 'closed') return 'closed';
    const now = new Date();
    await trx
      .updateTable('anomalies')
      .set({
        status: review.decision,
        reviewed_by: review.reviewer,
        review_note: review.note,
        reviewed_at: now,
        updated_at: now,
      })
      .where('id', '=', id)
      .execute();
    await trx
      .insertInto('anomaly_events')
      .values({
        anomaly_id: id,
        at: now,
        kind: review.decision,
        actor: review.reviewer,
        note: review.note,
        details: null,
      })
      .execute();
    return 'ok';
  });
}
