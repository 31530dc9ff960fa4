import { IngestService } from '../ingest/ingest.service';
import { findQuarantined, listQuarantine, markReplayed } from '../repositories/quarantine.repository';
import type { Runtime } from '../runtime';
import { limitFlag, printJson, UsageError } from './output';

export async function quarantineCommand(
  rt: Runtime,
  args: string[],
  flags: { platform?: string; all?: boolean; limit?: string },
): Promise<void> {
  const [sub, id] = args;
  if (sub === 'list') {
    const rows = await listQuarantine(rt.db, {
      platform: flags.platform,
      includeReplayed: flags.all === true,
      limit: limitFlag(flags.limit),
    });
    printJson({ items: rows });
    return;
  }
  if (sub === 'replay') {
    if (!id || !/^\d{1,18}$/.test(id))
      throw new UsageError('quarantine replay <id> (the numeric id from `quarantine list`)');
    const row = await findQuarantined(rt.db, BigInt(id));
    if (!row) throw new UsageError(`no quarantined event ${id}`);
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
    if (result.outcome === 'accepted' || result.outcome === 'duplicate') {
      await markReplayed(rt.db, row.platform, row.id, result.outcome);
    }
    printJson({ id, platform: row.platform, event_id: row.event_id, ...result });
    if (result.outcome === 'still_invalid' || result.outcome === 'conflict') process.exitCode = 1;
    return;
  }
  throw new UsageError('quarantine list [--platform <code>] [--all] | quarantine replay <id>');
}
