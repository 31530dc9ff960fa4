import { type QueryResult, sql } from 'kysely';
import { arrayLiteral } from '../db/array-literal';
import type { Db } from '../db/database';
import { packBytes } from '../db/packed-bytes';

export interface NewEvent {
  platform: string;
  eventId: string;
  eventType: string;
  eventTs: Date;
  recordKind: string;
  recordKey: string;
  recordVersion: number | null;
  contentSha256: Buffer;
  /** The exact bytes received, encrypted (they carry id and account numbers). */
  sealedBody: Buffer;
  signature: Record<string, string> | null;
  batchId: string | null;
  batchLine: number | null;
  receivedAt: Date;
}

export type StoreOutcome =
  | { status: 'accepted'; eventId: string }
  | { status: 'duplicate'; eventId: string }
  | {
      status: 'conflict';
      eventId: string;
      reason: 'event_id_reused' | 'record_version';
      existingEventId: string;
    };

const eventKey = (e: { platform: string; eventId: string }) => `${e.platform}\u0000${e.eventId}`;
/**
 * A record's idempotency key: (record key, version); for master data, which has no version,
 * (record key, event timestamp, content) — its replays are duplicates, any other content is new.
 */
const recordKey = (
  e: Pick<NewEvent, 'platform' | 'recordKind' | 'recordKey' | 'recordVersion' | 'eventTs' | 'contentSha256'>,
) =>
  e.recordVersion === null
    ? `${e.platform}\u0000${e.recordKind}\u0000${e.recordKey}\u0000@${e.eventTs.getTime()}\u0000${e.contentSha256.toString('hex')}`
    : `${e.platform}\u0000${e.recordKind}\u0000${e.recordKey}\u0000${e.recordVersion}`;
const recordKeyOfRow = (row: {
  platform: string;
  record_kind: string;
  record_key: string;
  record_version: number | null;
  event_ts: Date;
  content_sha256: Buffer;
}) =>
  recordKey({
    platform: row.platform,
    recordKind: row.record_kind,
    recordKey: row.record_key,
    recordVersion: row.record_version,
    eventTs: row.event_ts,
    contentSha256: row.content_sha256,
  });

interface StoredRow {
  platform: string;
  event_id: string;
  record_kind: string;
  record_key: string;
  record_version: number | null;
  event_ts: Date;
  content_sha256: Buffer;
}

/**
 * Stores events idempotently in ONE statement (group commit: many requests share it).
 * Webhook-id retries and identical re-sends of a record version are duplicates; a different
 * content under a stored (record key, version) is a conflict. Rows in `events` that collide with
 * each other are resolved in memory against the first of them, so the result does not depend on
 * which request of a concurrent burst reached PostgreSQL first.
 */
export async function storeEvents(db: Db, events: readonly NewEvent[]): Promise<StoreOutcome[]> {
  const repOf = new Array<number>(events.length);
  const reps: number[] = [];
  const seenEvent = new Map<string, number>();
  const seenRecord = new Map<string, number>();
  events.forEach((e, i) => {
    const ek = eventKey(e);
    const rk = recordKey(e);
    const prior = seenEvent.get(ek) ?? seenRecord.get(rk);
    if (prior !== undefined) {
      repOf[i] = prior;
      return;
    }
    repOf[i] = i;
    reps.push(i);
    seenEvent.set(ek, i);
    seenRecord.set(rk, i);
  });

  const r = reps.map((i) => events[i]!);
  // unnest() turns parallel arrays into rows: one round trip for the whole group; the byte
  // columns as one binary parameter each (packBytes), the others as array literals.
  const a = arrayLiteral;
  const hashes = packBytes(r.map((e) => e.contentSha256));
  const bodies = packBytes(r.map((e) => e.sealedBody));
  const columns = sql`
    SELECT k.platform, k.event_id, k.event_type, k.event_ts, k.record_kind, k.record_key, k.record_version,
      substring(${hashes.bytes}::bytea FROM k.hash_at FOR k.hash_len), substring(${bodies.bytes}::bytea FROM k.body_at FOR k.body_len),
      k.signature, k.batch_id, k.batch_line, k.received_at
    FROM unnest(
      ${a(r.map((e) => e.platform))}::text[], ${a(r.map((e) => e.eventId))}::text[], ${a(r.map((e) => e.eventType))}::text[],
      ${a(r.map((e) => e.eventTs))}::timestamptz[], ${a(r.map((e) => e.recordKind))}::text[],
      ${a(r.map((e) => e.recordKey))}::text[], ${a(r.map((e) => e.recordVersion))}::int[],
      ${a(hashes.at)}::int[], ${a(hashes.len)}::int[], ${a(bodies.at)}::int[], ${a(bodies.len)}::int[],
      ${a(r.map((e) => (e.signature ? JSON.stringify(e.signature) : null)))}::jsonb[],
      ${a(r.map((e) => e.batchId))}::text[], ${a(r.map((e) => e.batchLine))}::int[],
      ${a(r.map((e) => e.receivedAt))}::timestamptz[])
      AS k(platform, event_id, event_type, event_ts, record_kind, record_key, record_version,
           hash_at, hash_len, body_at, body_len, signature, batch_id, batch_line, received_at)`;
  const insert = (onConflict: boolean) => sql<{ platform: string; event_id: string }>`
    INSERT INTO inbound_events (platform, event_id, event_type, event_ts, record_kind, record_key, record_version,
      content_sha256, raw_body, signature, batch_id, batch_line, received_at)
    ${columns}
    ${onConflict ? sql`ON CONFLICT DO NOTHING` : sql``}
    RETURNING platform, event_id`;
  const inserted = await insertOptimistically(db, insert(false), insert(true));
  const insertedKeys = new Set(
    inserted.rows.map((row) => eventKey({ platform: row.platform, eventId: row.event_id })),
  );

  const outcomes = new Array<StoreOutcome>(events.length);
  const missing = reps.filter((i) => !insertedKeys.has(eventKey(events[i]!)));
  for (const i of reps)
    if (insertedKeys.has(eventKey(events[i]!)))
      outcomes[i] = { status: 'accepted', eventId: events[i]!.eventId };
  // A follower of a representative that was not stored is judged, like it, against what is
  // stored: a line identical to a stored record is its duplicate even when an earlier line of the
  // batch conflicted with that record (the result must not depend on the lines' order).
  const missingReps = new Set(missing);
  const judgedOnStored = events.flatMap((_, i) => (repOf[i] !== i && missingReps.has(repOf[i]!) ? [i] : []));
  const byEvent = new Map<string, StoredRow>();
  const byRecord = new Map<string, StoredRow>();
  /** The outcome of event i against the stored rows; null when none has its id or record. */
  const againstStored = (i: number): StoreOutcome | null => {
    const e = events[i]!;
    const sameId = byEvent.get(eventKey(e));
    if (sameId) return judge(e, sameId.content_sha256, sameId.event_id, 'event_id_reused');
    const sameRecord = byRecord.get(recordKey(e));
    return sameRecord ? judge(e, sameRecord.content_sha256, sameRecord.event_id, 'record_version') : null;
  };

  if (missing.length > 0) {
    const m = [...missing, ...judgedOnStored].map((i) => events[i]!);
    // Two equi-joins, each on its unique index, rather than one join with an OR: PostgreSQL
    // cannot drive an OR join from either index and hashes on the platform alone instead, which
    // reads the whole table per group (128 ms per group at 50,000 stored events).
    const existing = await sql<StoredRow>`
      WITH k AS MATERIALIZED (
        SELECT * FROM unnest(${m.map((e) => e.platform)}::text[], ${m.map((e) => e.eventId)}::text[],
                    ${m.map((e) => e.recordKind)}::text[], ${m.map((e) => e.recordKey)}::text[],
                    ${m.map((e) => e.recordVersion)}::int[], ${m.map((e) => e.eventTs)}::timestamptz[],
                    ${m.map((e) => e.contentSha256)}::bytea[])
          AS k(platform, event_id, record_kind, record_key, record_version, event_ts, content_sha256))
      SELECT e.platform, e.event_id, e.record_kind, e.record_key, e.record_version, e.event_ts, e.content_sha256
      FROM k JOIN inbound_events e ON e.platform = k.platform AND e.event_id = k.event_id
      UNION ALL
      SELECT e.platform, e.event_id, e.record_kind, e.record_key, e.record_version, e.event_ts, e.content_sha256
      FROM k JOIN inbound_events e ON e.platform = k.platform AND e.record_kind = k.record_kind
        AND e.record_key = k.record_key AND e.record_version = k.record_version
      UNION ALL
      SELECT e.platform, e.event_id, e.record_kind, e.record_key, e.record_version, e.event_ts, e.content_sha256
      FROM k JOIN inbound_events e ON e.platform = k.platform AND e.record_kind = k.record_kind
        AND e.record_key = k.record_key AND e.event_ts = k.event_ts AND e.content_sha256 = k.content_sha256
        AND e.record_version IS NULL AND k.record_version IS NULL`.execute(db);
    for (const row of existing.rows) {
      byEvent.set(eventKey({ platform: row.platform, eventId: row.event_id }), row);
      byRecord.set(recordKeyOfRow(row), row);
    }
    for (const i of missing) {
      const outcome = againstStored(i);
      if (!outcome) {
        const e = events[i]!;
        throw new Error(`event ${e.platform}/${e.eventId} was neither stored nor found`);
      }
      outcomes[i] = outcome;
    }
    for (const i of judgedOnStored) {
      const outcome = againstStored(i);
      if (outcome) outcomes[i] = outcome;
    }
  }

  // Other followers of a representative inside this group (it was stored, or nothing stored
  // shares their id or record): same content → duplicate, else conflict.
  events.forEach((e, i) => {
    const rep = repOf[i]!;
    if (rep === i || outcomes[i] !== undefined) return;
    const first = events[rep]!;
    const reason = eventKey(first) === eventKey(e) ? 'event_id_reused' : 'record_version';
    outcomes[i] = judge(e, first.contentSha256, first.eventId, reason);
  });
  return outcomes;
}

/** An event against an earlier one sharing its id or record: the same content is a duplicate. */
function judge(
  e: NewEvent,
  earlierContent: Buffer,
  earlierEventId: string,
  reason: 'event_id_reused' | 'record_version',
): StoreOutcome {
  return earlierContent.equals(e.contentSha256)
    ? { status: 'duplicate', eventId: e.eventId }
    : { status: 'conflict', eventId: e.eventId, reason, existingEventId: earlierEventId };
}

/**
 * Runs the plain INSERT and, only if it hits a unique index (a retry, a conflict, a concurrent
 * twin), the ON CONFLICT DO NOTHING one instead. ON CONFLICT costs about twice as much per row
 * in PostgreSQL (speculative insertion: a lock and an extra WAL record per row), and most groups
 * and batches carry only new events. Inside the caller's transaction the attempt is wrapped in a
 * savepoint, so that its failure does not abort the transaction.
 */
async function insertOptimistically<R>(
  db: Db,
  plain: { execute(db: Db): Promise<QueryResult<R>> },
  onConflict: { execute(db: Db): Promise<QueryResult<R>> },
): Promise<QueryResult<R>> {
  const inTransaction = db.isTransaction;
  if (inTransaction) await sql`SAVEPOINT store_events`.execute(db);
  try {
    const r = await plain.execute(db);
    if (inTransaction) await sql`RELEASE SAVEPOINT store_events`.execute(db);
    return r;
  } catch (err) {
    if ((err as { code?: unknown }).code !== UNIQUE_VIOLATION) throw err;
    if (inTransaction) await sql`ROLLBACK TO SAVEPOINT store_events`.execute(db);
    return onConflict.execute(db);
  }
}

const UNIQUE_VIOLATION = '23505';

export interface PendingEvent {
  platform: string;
  eventId: string;
}

/** Pending events old enough that the queue should have had them by now. */
export async function findStalePending(
  db: Db,
  minAgeSeconds: number,
  limit: number,
): Promise<PendingEvent[]> {
  const rows = await db
    .selectFrom('inbound_events')
    .select(['platform', 'event_id'])
    .where('state', '=', 'pending')
    .where('received_at', '<', sql<Date>`now() - make_interval(secs => ${minAgeSeconds})`)
    .orderBy('received_at')
    .orderBy('platform')
    .orderBy('event_id')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ platform: r.platform, eventId: r.event_id }));
}

export async function countEventsByState(db: Db): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('inbound_events')
    .select(['state', (eb) => eb.fn.countAll<bigint>().as('n')])
    .groupBy('state')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
}
