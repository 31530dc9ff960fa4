import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '../../src/domain/events';
import { createBaseApp } from '../../src/http/app';
import { registerOps } from '../../src/http/routes/ops';
import { createMetrics } from '../../src/ops/metrics';
import { publishMetrics, sharedMetricsKey } from '../../src/ops/shared-metrics';
import { EventQueues } from '../../src/queue/producer';
import { createRedis } from '../../src/queue/redis';
import { createTestContext, json, type TestContext } from '../support/context';
import { paymentMade, tradeCreated } from '../support/factories';
import { addOfficer, bearer } from '../support/officers';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => ctx.close());

describe('operations endpoints', () => {
  it('healthz and readyz', async () => {
    expect(await json(await ctx.app.request('/healthz'))).toEqual({ status: 'ok' });
    const ready = await ctx.app.request('/readyz');
    expect(ready.status).toBe(200);
    expect(await json(ready)).toEqual({ status: 'ready', checks: { postgres: 'ok', redis: 'ok' } });
  });

  it('metrics: ingest counts by platform, type and outcome, latency histogram, queue depth', async () => {
    const p = await ctx.addPlatform();
    await ctx.post(`/v1/ingest/${p.code}/events`, JSON.stringify(tradeCreated()), { secret: p.secret });
    const text = await (await ctx.app.request('/metrics')).text();
    expect(text).toMatch(
      new RegExp(
        `retrace_ingest_events_total\\{[^}]*platform="${p.code}",type="trade.created",outcome="accepted"[^}]*\\} 1`,
      ),
    );
    expect(text).toMatch(/retrace_http_request_duration_seconds_bucket/);
    expect(text).toMatch(/retrace_queue_jobs\{[^}]*queue="\{events-\d\}",state="waiting"/);
  });

  it('metrics: batch lines are counted by their event type too, and a line that is no event as unknown', async () => {
    const p = await ctx.addPlatform();
    const lines = [{ id: 'L1', ...paymentMade() }, { id: 'L2', ...paymentMade() }, 'not json'];
    const res = await ctx.post(
      `/v1/ingest/${p.code}/batches`,
      `${lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n')}\n`,
      { secret: p.secret, contentType: 'application/x-ndjson' },
    );
    expect(res.status).toBe(200);
    const text = await (await ctx.app.request('/metrics')).text();
    const count = (type: string, outcome: string) =>
      new RegExp(
        `retrace_ingest_events_total\\{[^}]*platform="${p.code}",type="${type}",outcome="${outcome}"[^}]*\\} (\\d+)`,
      ).exec(text)?.[1];
    expect(count('payment.made', 'accepted')).toBe('2');
    expect(count('unknown', 'rejected')).toBe('1');
  });

  it('metrics: the workers’ processing latency and job counts, from their snapshots in Redis, summed', async () => {
    const key = sharedMetricsKey(ctx.rt.queues.prefix);
    const redis = ctx.rt.queues.redis;
    const workers = [createMetrics('worker'), createMetrics('worker')];
    const published = workers.map((m) => publishMetrics(redis, key, m.registry, 60_000));
    workers[0]!.processingLatency.observe({ stage: 'normalised' }, 0.2);
    workers[1]!.processingLatency.observe({ stage: 'normalised' }, 3);
    workers[1]!.eventsProcessed.inc({ outcome: 'processed' }, 7);
    await Promise.all(published.map((p) => p.publish()));
    // A process gone for good: its snapshot is too old to count, and the scrape removes it.
    await redis.hset(key, 'gone:1', JSON.stringify({ at: Date.now() - 3_600_000, metrics: [] }));

    const text = await (await ctx.app.request('/metrics')).text();
    expect(text).toMatch(
      /retrace_processing_latency_seconds_count\{[^}]*stage="normalised"[^}]*role="worker"[^}]*\} 2/,
    );
    expect(text).toMatch(/retrace_processing_latency_seconds_bucket\{le="0.25",[^}]*role="worker"[^}]*\} 1/);
    expect(text).toMatch(
      /retrace_events_processed_total\{[^}]*outcome="processed"[^}]*role="worker"[^}]*\} 7/,
    );
    // The API's own metrics are still there.
    expect(text).toMatch(/retrace_http_request_duration_seconds_bucket\{/);
    expect(await redis.hexists(key, 'gone:1')).toBe(0);

    await Promise.all(published.map((p) => p.stop()));
    expect(await redis.hlen(key)).toBe(0);
    const after = await (await ctx.app.request('/metrics')).text();
    expect(after).not.toMatch(/retrace_events_processed_total\{[^}]*role="worker"/);
  });

  it('the OpenAPI 3.1 document covers every endpoint of the contract, and /docs serves a browsable reference', async () => {
    const doc = await json(await ctx.app.request('/openapi.json'));
    expect(doc.openapi).toBe('3.1.0');
    const paths = Object.keys(doc.paths);
    for (const p of [
      '/v1/ingest/{platform}/events',
      '/v1/ingest/{platform}/batches',
      '/v1/trades',
      '/v1/trades/{id}',
      '/v1/trades/{id}/chain',
      '/v1/parties/{key}',
      '/v1/parties/{key}/summary',
      '/v1/parties/{key}/summary/withholding',
      '/v1/anomalies',
      '/v1/anomalies/{id}',
      '/v1/anomalies/{id}/review',
      '/v1/reports',
      '/v1/reports/{id}',
      '/v1/reports/{id}/download',
      '/v1/audit',
      '/healthz',
      '/readyz',
      '/metrics',
    ]) {
      expect(paths, p).toContain(p);
    }
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    // A single event's body is described per type: every record shape of CONTRACT.md 1.3.
    const body =
      doc.paths['/v1/ingest/{platform}/events'].post.requestBody.content['application/json'].schema;
    const variants = JSON.stringify(body);
    for (const type of EVENT_TYPES) {
      expect(variants, type).toContain(`"${type}"`);
    }
    expect(variants).toContain('total_amount');
    expect(variants).toContain('vehicle_plate');
    // A trade's buyer is an enterprise only, as the contract says (not any party).
    expect(variants).toContain('The buyer: an enterprise, identified by its USCC');
    // Every problem response carries an example of its body.
    const notFound = doc.paths['/v1/trades/{id}'].get.responses['404'].content['application/problem+json'];
    expect(notFound.example).toMatchObject({ type: '/problems/not-found', title: 'Not found', status: 404 });
    const conflict =
      doc.paths['/v1/ingest/{platform}/events'].post.responses['409'].content['application/problem+json'];
    expect(conflict.example).toMatchObject({ type: '/problems/conflict', status: 409 });
    const page = await ctx.app.request('/docs');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/openapi.json');
    expect((await ctx.app.request('/docs/assets/swagger-ui-bundle.js')).status).toBe(200);
  });

  it('while Redis is unreachable, /metrics still answers (this process’s metrics) and /readyz says 503', async () => {
    // The queues' own connections wait for Redis for ever (BullMQ needs that): an unbounded read
    // of the queue depth would hold the scrape until the test times out.
    const queues = new EventQueues(createRedis('redis://127.0.0.1:1', 'producer'), ctx.redisPrefix, 2);
    try {
      const app = createBaseApp({ log: ctx.rt.log, metrics: ctx.rt.metrics });
      registerOps(app, { db: ctx.rt.db, queues, metrics: ctx.rt.metrics });
      const metrics = await app.request('/metrics');
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain('retrace_ingest_events_total');
      const ready = await app.request('/readyz');
      expect(ready.status).toBe(503);
      expect(await json(ready)).toMatchObject({ checks: { postgres: 'ok', redis: 'down' } });
    } finally {
      await queues.close().catch(() => {});
      queues.redis.disconnect();
    }
  }, 15_000);

  it('unknown paths are problem+json 404s; a known path with another method is a 405 with Allow', async () => {
    const res = await ctx.app.request('/nope');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const get = await ctx.app.request('/v1/ingest/jmrr/events');
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect(get.headers.get('content-type')).toContain('application/problem+json');
    // Officer paths authenticate first: only a caller with a valid token learns what is there.
    expect((await ctx.app.request('/v1/trades/42/chain', { method: 'POST' })).status).toBe(401);
    const officer = await addOfficer(ctx);
    const post = await ctx.app.request('/v1/trades/42/chain', {
      method: 'POST',
      headers: bearer(officer.token),
    });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect((await ctx.app.request('/v1/trades/42/nope', { headers: bearer(officer.token) })).status).toBe(
      404,
    );
  });
});
