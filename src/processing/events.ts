import type { Db } from '../db/database';

export interface ProcessResult {
  processed: number;
  skipped: number;
}

/**
 * Takes stored events out of 'pending'. Rows are locked with SKIP LOCKED so two workers handed
 * the same events (a re-enqueue by the sweep) never both work on one; an event already
 * processed is skipped, which makes the job safe to run twice.
 */
export async function processEvents(
  db: Db,
  platform: string,
  eventIds: readonly string[],
): Promise<ProcessResult> {
  return db.transaction().execute(async (trx) => {
    const rows = await trx
      .selectFrom('inbound_events')
      .select(['event_id'])
      .where('platform', '=', platform)
      .where('event_id', 'in', eventIds)
      .where('state', '=', 'pending')
      .forUpdate()
      .skipLocked()
      .execute();
    if (rows.length > 0) {
      await trx
        .updateTable('inbound_events')
        .set({ state: 'processed', processed_at: new Date(), attempts: (eb) => eb('attempts', '+', 1) })
        .where('platform', '=', platform)
        .where(
          'event_id',
          'in',
          rows.map((r) => r.event_id),
        )
        .execute();
    }
    return { processed: rows.length, skipped: eventIds.length - rows.length };
  });
}
