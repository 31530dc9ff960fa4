import { sql } from 'kysely';
import type { Db } from '../db/database';

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

/** Keeps rejected deliveries; a retried identical delivery is kept once. */
export async function quarantine(db: Db, entries: readonly QuarantineEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await db
    .insertInto('quarantined_events')
    .values(
      entries.map((e) => ({
        platform: e.platform,
        event_id: e.eventId,
        batch_id: e.batchId,
        batch_line: e.batchLine,
        received_at: e.receivedAt,
        status: e.status,
        // jsonb cannot hold U+0000, which hostile input may put into an error message.
        errors: JSON.stringify(e.errors).replaceAll('\\u0000', '\\ufffd'),
        raw_body: e.sealedBody,
        content_sha256: e.contentSha256,
        signature: e.signature ? JSON.stringify(e.signature) : null,
      })),
    )
    // The unique index is on an expression (coalesce(event_id, '')), which the builder's
    // onConflict(columns) cannot name.
    .modifyEnd(sql`ON CONFLICT DO NOTHING`)
    .execute();
}

export async function listQuarantine(
  db: Db,
  opts: { platform?: string; includeReplayed?: boolean; limit?: number },
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
  if (!opts.includeReplayed) q = q.where('replayed_at', 'is', null);
  return q.execute();
}

export async function findQuarantined(db: Db, id: bigint) {
  return db.selectFrom('quarantined_events').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function markReplayed(db: Db, platform: string, id: bigint, outcome: string): Promise<void> {
  await db
    .updateTable('quarantined_events')
    .set({ replayed_at: new Date(), replay_outcome: outcome })
    .where('platform', '=', platform)
    .where('id', '=', id)
    .execute();
}
