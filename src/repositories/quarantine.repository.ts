import { sql } from 'kysely';
import type { Db } from '../db/database';
import { packBytes } from '../db/packed-bytes';

export interface QuarantineEntry {
  platform: string;
  eventId: string | null;
  batchId: string | null;
  batchLine: number | null;
  receivedAt: Date;
  status: 400 | 409;
  errors: unknown[];
  /** The exact bytes received, encrypted. */
  sealedBody: Buffer;
  contentSha256: Buffer;
  signature: Record<string, string> | null;
}

/**
 * Keeps rejected deliveries; a retried identical delivery is kept once. One statement whatever
 * the count (a batch may reject all of its 10,000 lines): rows travel as parallel arrays, and the
 * byte columns as one binary parameter each (packBytes) — a VALUES list would need 10
 * parameters a row, and PostgreSQL takes at most 65,535 in a statement.
 */
export async function quarantine(db: Db, entries: readonly QuarantineEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const bodies = packBytes(entries.map((e) => e.sealedBody));
  const hashes = packBytes(entries.map((e) => e.contentSha256));
  // The unique index is on an expression (coalesce(event_id, '')), which the builder's
  // onConflict(columns) cannot name; unnest over arrays is not something the builder says either.
  await sql`
    INSERT INTO quarantined_events (platform, event_id, batch_id, batch_line, received_at, status, errors,
      raw_body, content_sha256, signature)
    SELECT k.platform, k.event_id, k.batch_id, k.batch_line, k.received_at, k.status, k.errors,
      substring(${bodies.bytes}::bytea FROM k.body_at FOR k.body_len),
      substring(${hashes.bytes}::bytea FROM k.hash_at FOR k.hash_len), k.signature
    FROM unnest(
      ${entries.map((e) => e.platform)}::text[], ${entries.map((e) => e.eventId)}::text[],
      ${entries.map((e) => e.batchId)}::text[], ${entries.map((e) => e.batchLine)}::int[],
      ${entries.map((e) => e.receivedAt.toISOString())}::timestamptz[], ${entries.map((e) => e.status)}::int[],
      ${entries.map((e) => JSON.stringify(e.errors).replaceAll('\\u0000', '\\ufffd'))}::jsonb[],
      ${bodies.at}::int[], ${bodies.len}::int[], ${hashes.at}::int[], ${hashes.len}::int[],
      ${entries.map((e) => (e.signature ? JSON.stringify(e.signature) : null))}::jsonb[])
      AS k(platform, event_id, batch_id, batch_line, received_at, status, errors,
           body_at, body_len, hash_at, hash_len, signature)
    ON CONFLICT DO NOTHING`.execute(db);
}

export async function listQuarantine(
  db: Db,
  opts: { platform?: string; includeReplayed?: boolean; limit?: number; beforeId?: bigint },
) {
  let q = db
    .selectFrom('quarantined_events')
    .select([
      'id',
      'platform',
      'event_id',
      'batch_id',
      'batch_line',
      'received_at',
      'status',
      'errors',
      'replayed_at',
      'replay_outcome',
    ])
    .orderBy('id', 'desc')
    .limit(opts.limit ?? 100);
  if (opts.platform) q = q.where('platform', '=', opts.platform);
  // Without --all: what still waits — never replayed, or replayed without success.
  if (!opts.includeReplayed)
    q = q.where((eb) =>
      eb.or([eb('replay_outcome', 'is', null), eb('replay_outcome', 'not in', ['accepted', 'duplicate'])]),
    );
  if (opts.beforeId !== undefined) q = q.where('id', '<', opts.beforeId);
  return q.execute();
}

export async function findQuarantined(db: Db, id: bigint) {
  return db.selectFrom('quarantined_events').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * Records a replay attempt and its outcome (accepted, duplicate, still_invalid, conflict). An
 * entry once accepted stays `accepted`: replaying it again finds the stored event (a duplicate),
 * which says nothing new about the entry.
 */
export async function markReplayed(db: Db, platform: string, id: bigint, outcome: string): Promise<void> {
  await db
    .updateTable('quarantined_events')
    .set((eb) => ({
      replayed_at: new Date(),
      replay_outcome: eb.case().when('replay_outcome', '=', 'accepted').then('accepted').else(outcome).end(),
    }))
    .where('platform', '=', platform)
    .where('id', '=', id)
    .execute();
}
