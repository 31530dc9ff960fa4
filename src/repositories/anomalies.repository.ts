import { type RawBuilder, sql } from 'kysely';
import type { Db } from '../db/database';

export interface RuleSettingRow {
  rule: string;
  version: number;
  valid_from: string;
  enabled: boolean;
  params: unknown;
}

/** The settings version of each rule in force on `date` (YYYY-MM-DD, Asia/Shanghai). */
export async function settingsInForce(db: Db, date: string): Promise<Map<string, RuleSettingRow>> {
  const rows = await sql<RuleSettingRow>`
    SELECT DISTINCT ON (rule) rule, version, valid_from::text AS valid_from, enabled, params
    FROM rule_settings WHERE valid_from <= ${date}::date ORDER BY rule, valid_from DESC`.execute(db);
  return new Map(rows.rows.map((r) => [r.rule, r]));
}

export async function addRuleSetting(
  db: Db,
  s: { rule: string; validFrom: string; enabled: boolean; params: unknown; note: string | null },
): Promise<number> {
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`rule-settings:${s.rule}`}, 0))`.execute(trx);
    const max = await trx
      .selectFrom('rule_settings')
      .select((eb) => eb.fn.max('version').as('v'))
      .where('rule', '=', s.rule)
      .executeTakeFirst();
    const version = Number(max?.v ?? 0) + 1;
    await trx
      .insertInto('rule_settings')
      .values({
        rule: s.rule,
        version,
        valid_from: s.validFrom,
        enabled: s.enabled,
        params: JSON.stringify(s.params),
        note: s.note,
      })
      .execute();
    return version;
  });
}

export interface StoredFinding {
  id: bigint;
  rule: string;
  dedupe_key: string;
  party_key: string;
  status: string;
  fingerprint: string;
  /** The latest review decision ('confirmed' | 'dismissed'), kept when a finding is closed. */
  last_decision: string | null;
}

export async function findingsOfPeriod(
  db: Db,
  period: string,
  rules: readonly string[],
): Promise<StoredFinding[]> {
  if (rules.length === 0) return [];
  return db
    .selectFrom('anomalies as a')
    .select(['a.id', 'a.rule', 'a.dedupe_key', 'a.party_key', 'a.status', 'a.fingerprint'])
    .select((eb) =>
      eb
        .selectFrom('anomaly_events as e')
        .select('e.kind')
        .whereRef('e.anomaly_id', '=', 'a.id')
        .where('e.kind', 'in', ['confirmed', 'dismissed'])
        .orderBy('e.at', 'desc')
        .limit(1)
        .as('last_decision'),
    )
    .where('a.period', '=', period)
    .where('a.rule', 'in', rules)
    .execute();
}

export interface FindingRow {
  rule: string;
  dedupe_key: string;
  rule_version: number;
  severity: string;
  party_key: string;
  division: string;
  period: string;
  trades: string;
  documents: string;
  summary_zh: string;
  summary_en: string;
  evidence: string;
  fingerprint: string;
}

export async function insertFindings(db: Db, rows: readonly FindingRow[]): Promise<{ id: bigint }[]> {
  if (rows.length === 0) return [];
  return db.insertInto('anomalies').values(rows).returning('id').execute();
}

/** Replaces what a finding says; `status`, when given, sets its state too (reopening). */
export async function updateFinding(
  db: Db,
  id: bigint,
  row: FindingRow,
  status: string | null,
): Promise<void> {
  await db
    .updateTable('anomalies')
    .set({
      rule_version: row.rule_version,
      severity: row.severity,
      division: row.division,
      trades: row.trades,
      documents: row.documents,
      summary_zh: row.summary_zh,
      summary_en: row.summary_en,
      evidence: row.evidence,
      fingerprint: row.fingerprint,
      last_detected_at: new Date(),
      updated_at: new Date(),
      ...(status ? { status, closed_reason: null } : {}),
    })
    .where('id', '=', id)
    .execute();
}

export async function closeFindings(db: Db, ids: readonly bigint[], reason: string): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable('anomalies')
    .set({ status: 'closed', closed_reason: reason, updated_at: new Date() })
    .where('id', 'in', ids)
    .execute();
}

export async function recordAnomalyEvents(
  db: Db,
  events: readonly {
    anomalyId: bigint;
    kind: string;
    actor: string;
    note?: string | null;
    details?: unknown;
  }[],
): Promise<void> {
  if (events.length === 0) return;
  await db
    .insertInto('anomaly_events')
    .values(
      events.map((e) => ({
        anomaly_id: e.anomalyId,
        kind: e.kind,
        actor: e.actor,
        note: e.note ?? null,
        details: e.details === undefined ? null : JSON.stringify(e.details),
      })),
    )
    .execute();
}

/** Internal trade ids for (platform, trade_id) pairs. */
export async function tradeIds(
  db: Db,
  refs: readonly { platform: string; trade_id: string }[],
): Promise<Map<string, bigint>> {
  if (refs.length === 0) return new Map();
  const rows = await sql<{ platform: string; trade_id: string; id: bigint }>`
    SELECT t.platform, t.trade_id, t.id FROM trades t
    JOIN unnest(${refs.map((r) => r.platform)}::text[], ${refs.map((r) => r.trade_id)}::text[]) AS k(platform, trade_id)
      ON t.platform = k.platform AND t.trade_id = k.trade_id`.execute(db);
  return new Map(rows.rows.map((r) => [`${r.platform}:${r.trade_id}`, r.id]));
}

export async function partyDivisions(db: Db, keys: readonly string[]): Promise<Map<string, string>> {
  if (keys.length === 0) return new Map();
  const rows = await db
    .selectFrom('parties')
    .select(['party_key', 'division'])
    .where('party_key', 'in', [...new Set(keys)])
    .execute();
  return new Map(rows.map((r) => [r.party_key, r.division]));
}

/**
 * Periods to evaluate again; returns each period's new generation. `marked_at` is when the period
 * became dirty: a mark on an already dirty period only bumps the generation, so the rules'
 * staleness bound (MAX_RULES_STALENESS_SECONDS) holds while data keeps arriving.
 */
export async function markPeriodsDirty(
  db: Db,
  periods: readonly string[],
  opts: { after?: RawBuilder<unknown> } = {},
): Promise<{ period: string; generation: bigint }[]> {
  const unique = [...new Set(periods)].sort();
  if (unique.length === 0) {
    await opts.after?.execute(db);
    return [];
  }
  // `after`: an independent write of the caller's, run in the same statement.
  const r = await sql<{ period: string; generation: bigint }>`
    ${opts.after ? sql`WITH w AS (${opts.after}) ` : sql``}INSERT INTO rule_dirty_periods AS d (period) SELECT * FROM unnest(${unique}::text[])
    ON CONFLICT (period) DO UPDATE SET generation = d.generation + 1
    RETURNING period, generation`.execute(db);
  return r.rows;
}

export async function findStaleDirtyPeriods(db: Db, minAgeSeconds: number) {
  const rows = await db
    .selectFrom('rule_dirty_periods')
    .select(['period', 'generation'])
    .where('marked_at', '<', sql<Date>`now() - make_interval(secs => ${minAgeSeconds})`)
    .orderBy('period')
    .execute();
  return rows;
}
