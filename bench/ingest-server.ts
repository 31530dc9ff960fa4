/**
 * The ingest benchmark's baseline: the API exactly as `retrace serve api` builds it (createApp,
 * @hono/node-server, same middleware and routes, the real IngestService), except that a group
 * of single events is "stored" by a no-op (IngestDeps.store): every event accepted, nothing
 * written to PostgreSQL, nothing handed to the queue. Platform cache, signature, Redis rate
 * limit, validation, content hash, seal and the group commit all run as in production.
 *
 * What differs from the durable path is therefore the INSERT and the BullMQ hand-over after
 * commit. Only single events are measured here (batches would still be written).
 *
 * Run by bench/ingest.ts as a child process: `node --import tsx bench/ingest-server.ts` with the
 * usual environment (DATABASE_URL, REDIS_URL, REDIS_PREFIX, RETRACE_MASTER_KEY, PORT).
 */
import { serve } from '@hono/node-server';
import { loadConfig } from '../src/config';
import { createApp } from '../src/http/create-app';
import { IngestService } from '../src/ingest/ingest.service';
import type { StoreOutcome } from '../src/repositories/events.repository';
import { createRuntime } from '../src/runtime';

async function main(): Promise<void> {
  const config = loadConfig();
  const rt = createRuntime(config, 'api');
  const ingest = new IngestService({
    db: rt.db,
    queues: rt.queues,
    redis: rt.queues.redis,
    redisPrefix: config.redisPrefix,
    keyring: rt.keyring,
    metrics: rt.metrics,
    log: rt.log,
    // The no-op store: every event "accepted", nothing written, nothing enqueued.
    store: async (events) => events.map((e): StoreOutcome => ({ status: 'accepted', eventId: e.eventId })),
  });
  const app = createApp({
    db: rt.db,
    queues: rt.queues,
    ingest,
    metrics: rt.metrics,
    log: rt.log,
    keyring: rt.keyring,
    redisPrefix: config.redisPrefix,
  });
  const server = serve({ fetch: app.fetch, port: config.port, hostname: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  process.stdout.write(`baseline API listening on 127.0.0.1:${config.port}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  server.close();
  await ingest.close();
  await rt.close();
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
