import { serve } from '@hono/node-server';
import { IngestService } from '../ingest/ingest.service';
import type { Runtime } from '../runtime';
import { createApp } from './create-app';

/** Runs the HTTP API until SIGTERM/SIGINT; stateless, so any number can run behind a balancer. */
export async function runApi(rt: Runtime): Promise<void> {
  const ingest = new IngestService({
    db: rt.db,
    queues: rt.queues,
    redis: rt.queues.redis,
    redisPrefix: rt.config.redisPrefix,
    keyring: rt.keyring,
    metrics: rt.metrics,
    log: rt.log,
  });
  const app = createApp({
    db: rt.db,
    queues: rt.queues,
    ingest,
    metrics: rt.metrics,
    log: rt.log,
    keyring: rt.keyring,
    redisPrefix: rt.config.redisPrefix,
  });
  const server = serve({ fetch: app.fetch, port: rt.config.port, hostname: '0.0.0.0' });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  rt.log.info({ port: rt.config.port }, `API listening on http://127.0.0.1:${rt.config.port}`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      rt.log.info('shutting down API');
      server.close(() => resolve());
      // Keep-alive connections would hold close() open: give in-flight requests a moment.
      setTimeout(() => resolve(), 5_000).unref();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await ingest.close();
  await rt.close();
}
