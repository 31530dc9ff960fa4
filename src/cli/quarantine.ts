import { IngestService } from '../ingest/ingest.service';
import { findQuarantined, listQuarantine, markReplayed } from '../repositories/quarantine.repository';
import type { Runtime } from '../runtime';
import { CliError, limitFlag, printJson, say, UsageError } from './output';

export async function quarantineCommand(
  rt: Runtime,
  args: string[],
  flags: { platform?: string; all?: boolean; limit?: string; before?: string },
): Promise<void> {
  const [sub, id] = args;
  if (sub === 'list') {
    if (flags.before !== undefined && !/^\d{1,18}$/.test(flags.before))
      throw new UsageError('--before takes an id from `quarantine list` (its next_before)');
    const limit = limitFlag(flags.limit);
    // Newest first, one page at a time: one row more than asked tells whether there is a next page.
    const rows = await listQuarantine(rt.db, {
      platform: flags.platform,
      includeReplayed: flags.all === true,
      limit: limit + 1,
      beforeId: flags.before === undefined ? undefined : BigInt(flags.before),
    });
    const items = rows.slice(0, limit);
    const nextBefore = rows.length > limit ? String(items.at(-1)!.id) : null;
    printJson({ items, next_before: nextBefore });
    if (nextBefore !== null)
      say(`more: quarantine list --before ${nextBefore}${flags.limit ? ` --limit ${limit}` : ''}`);
    return;
  }
  if (sub === 'replay') {
    if (!id || !/^\d{1,18}$/.test(id))
      throw new UsageError('quarantine replay <id> (the numeric id from `quarantine list`)');
    const row = await findQuarantined(rt.db, BigInt(id));
    if (!row) throw new CliError(`no quarantined event ${id}`);
    const ingest = new IngestService({
      db: rt.db,
      queues: rt.queues,
      redis: rt.queues.redis,
      redisPrefix: rt.config.redisPrefix,
      keyring: rt.keyring,
      metrics: rt.metrics,
      log: rt.log,
    });
    const result = await ingest.replay({
      platform: row.platform,
      eventId: row.event_id,
      batchId: row.batch_id,
      batchLine: row.batch_line,
      receivedAt: row.received_at as Date,
      rawBody: rt.keyring.decryptBytes('event-bodies', row.raw_body),
      signature: row.signature as Record<string, string> | null,
    });
    await markReplayed(rt.db, row.platform, row.id, result.outcome);
    printJson({ id, platform: row.platform, event_id: row.event_id, ...result });
    if (result.outcome === 'still_invalid' || result.outcome === 'conflict') process.exitCode = 1;
    return;
  }
  throw new UsageError(
    'quarantine list [--platform <code>] [--all] [--limit N] [--before ID] | quarantine replay <id>',
  );
}
