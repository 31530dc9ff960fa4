import cluster from 'node:cluster';
import { serve } from '@hono/node-server';
import { IngestService } from '../ingest/ingest.service';
import type { Logger } from '../log';
import type { Runtime } from '../runtime';
import { createApp } from './create-app';
import { TokenRevocations } from './token-revocations';

/**
 * How long `serve api` trusts a verified officer token before asking the database again (ms). The
 * cache is emptied as soon as any officer's tokens or status change (PostgreSQL NOTIFY, see
 * src/http/token-revocations.ts) and bypassed while that cannot be heard; the TTL only bounds the
 * cost of a notification lost in between (docs/api.md).
 */
export const OFFICER_TOKEN_CACHE_MS = 5_000;

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
  const tokenChanges = new TokenRevocations(rt.config.databaseUrl, rt.log);
  tokenChanges.onPlatformChange(() => ingest.platforms.clear());
  await tokenChanges.start();
  const app = createApp({
    db: rt.db,
    queues: rt.queues,
    ingest,
    metrics: rt.metrics,
    log: rt.log,
    keyring: rt.keyring,
    redisPrefix: rt.config.redisPrefix,
    tokenCacheTtlMs: OFFICER_TOKEN_CACHE_MS,
    tokenChanges,
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
  await tokenChanges.close();
  await rt.close();
}

/**
 * `serve api --processes N`: N API processes on one port (node:cluster; the primary hands
 * connections out round-robin). One Node process uses one core for JSON, hashing and pg parsing,
 * and the API keeps no state between requests (the audit chain is serialised in PostgreSQL, the
 * auth-failure counters live in Redis), so processes add throughput until the cores are busy.
 * Each process has its own runtime (PG_POOL_SIZE connections each). The primary opens no
 * connection: it starts the processes, starts a new one when one dies, and on SIGTERM/SIGINT
 * passes the signal on and waits for them to finish.
 */
export async function runApiProcesses(
  processes: number,
  runtime: () => Runtime,
  log: Pick<Logger, 'info' | 'error'>,
): Promise<void> {
  if (processes <= 1) return runApi(runtime());
  if (!cluster.isPrimary) {
    await runApi(runtime());
    // The IPC channel to the primary would keep this process alive: let go of it.
    cluster.worker?.disconnect();
    return;
  }
  let stopping = false;
  const fork = () => cluster.fork();
  for (let i = 0; i < processes; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    log.error({ pid: worker.process.pid, code, signal }, 'API process ended: starting another');
    fork();
  });
  log.info({ processes }, 'API processes started');
  await new Promise<void>((resolve) => {
    const stop = (sig: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      const workers = Object.values(cluster.workers ?? {});
      if (workers.length === 0) return resolve();
      let left = workers.length;
      for (const w of workers) {
        w?.once('exit', () => {
          left -= 1;
          if (left === 0) resolve();
        });
        w?.process.kill(sig);
      }
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
