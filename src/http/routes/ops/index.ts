import { createRoute, z } from '@hono/zod-openapi';
import { sql } from 'kysely';
import type { Db } from '../../../db/database';
import type { Metrics } from '../../../ops/metrics';
import { aggregatedMetrics, readSharedMetrics, sharedMetricsKey } from '../../../ops/shared-metrics';
import type { EventQueues } from '../../../queue/producer';
import type { App } from '../../app';

export interface OpsDeps {
  db: Db;
  queues: EventQueues;
  metrics: Metrics;
}

const healthz = createRoute({
  operationId: 'getHealthz',
  method: 'get',
  path: '/healthz',
  tags: ['operations'],
  summary: 'Liveness: the process is up',
  responses: {
    200: {
      description: 'alive',
      content: { 'application/json': { schema: z.object({ status: z.literal('ok') }) } },
    },
  },
});

const readyStatus = z.object({
  status: z.enum(['ready', 'not_ready']),
  checks: z.object({ postgres: z.enum(['ok', 'down']), redis: z.enum(['ok', 'down']) }),
});

const readyz = createRoute({
  operationId: 'getReadyz',
  method: 'get',
  path: '/readyz',
  tags: ['operations'],
  summary: 'Readiness: PostgreSQL and Redis are reachable',
  responses: {
    200: { description: 'ready', content: { 'application/json': { schema: readyStatus } } },
    503: { description: 'a dependency is down', content: { 'application/json': { schema: readyStatus } } },
  },
});

const metricsRoute = createRoute({
  operationId: 'getMetrics',
  method: 'get',
  path: '/metrics',
  tags: ['operations'],
  summary: 'Prometheus metrics: ingest counts, HTTP latency, queue depth and lag',
  responses: {
    200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } },
  },
});

/** `p`, or a rejection after `ms`: a backend that is away must not hold an answer. */
async function within<T>(p: Promise<T>, ms = 1_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new Error('timeout')), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function probe(fn: () => Promise<unknown>, ms = 1_000): Promise<'ok' | 'down'> {
  try {
    await within(fn(), ms);
    return 'ok';
  } catch {
    return 'down';
  }
}

export function registerOps(app: App, deps: OpsDeps): void {
  app.openapi(healthz, (c) => c.json({ status: 'ok' as const }, 200));

  app.openapi(readyz, async (c) => {
    const [postgres, redis] = await Promise.all([
      probe(() => sql`SELECT 1`.execute(deps.db)),
      probe(async () => {
        const redis = deps.queues.redis;
        // Just after start the connection may still be opening: give it the probe's time.
        if (redis.status !== 'ready') {
          await new Promise<void>((resolve, reject) => {
            redis.once('ready', resolve);
            setTimeout(() => reject(new Error('not connected')), 900).unref();
          });
        }
        await redis.ping();
      }),
    ]);
    const ok = postgres === 'ok' && redis === 'ok';
    return c.json(
      { status: ok ? ('ready' as const) : ('not_ready' as const), checks: { postgres, redis } },
      ok ? 200 : 503,
    );
  });

  app.openapi(metricsRoute, async (c) => {
    // Queue depth is read at scrape time; if Redis is away the gauges keep their last values (the
    // queues' connections wait for Redis for ever, as BullMQ needs: the read is bounded here).
    try {
      const counts = await within(deps.queues.counts());
      for (const q of counts) {
        for (const [state, n] of Object.entries(q.counts))
          deps.metrics.queueDepth.set({ queue: q.queue, state }, n);
        deps.metrics.queueLag.set(
          { queue: q.queue },
          q.oldestWaitingMs === null ? 0 : q.oldestWaitingMs / 1000,
        );
      }
    } catch {
      // counted as stale gauges; readiness reports the outage
    }
    // The workers' metrics (processing latency, jobs, events processed) come from their snapshots
    // in Redis, summed with this process's own; without Redis, this process's alone.
    const shared = await within(
      readSharedMetrics(deps.queues.redis, sharedMetricsKey(deps.queues.prefix)),
    ).catch(() => []);
    const { body, contentType } = await aggregatedMetrics(deps.metrics.registry, shared);
    return c.text(body, 200, { 'content-type': contentType });
  });
}
