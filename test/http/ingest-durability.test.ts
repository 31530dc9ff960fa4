import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sweepOnce } from '../../src/processing/sweep';
import { EventQueues } from '../../src/queue/producer';
import { createRedis } from '../../src/queue/redis';
import { createTestContext, json, type TestContext, uid } from '../support/context';
import { tradeCreated } from '../support/factories';
import { proxied, TcpProxy } from '../support/tcp-proxy';

describe('Redis down', () => {
  let ctx: TestContext;
  let proxy: TcpProxy;
  beforeAll(async () => {
    proxy = new TcpProxy('127.0.0.1', 6379);
    await proxy.start();
    ctx = await createTestContext({ urls: (u) => ({ ...u, redisUrl: proxied(u.redisUrl, proxy.port) }) });
  });
  afterAll(async () => {
    await proxy.restore().catch(() => {});
    await ctx.close();
  });

  it('still accepts (202) into PostgreSQL, and the sweep hands the event to the queue once Redis is back', async () => {
    const platform = await ctx.addPlatform();
    await proxy.cut();
    const id = uid('msg_');
    const res = await ctx.post(`/v1/ingest/${platform.code}/events`, JSON.stringify(tradeCreated()), {
      secret: platform.secret,
      id,
    });
    expect(res.status).toBe(202);
    const row = await ctx.rt.db
      .selectFrom('inbound_events')
      .select('state')
      .where('event_id', '=', id)
      .executeTakeFirst();
    expect(row?.state).toBe('pending');

    const ready = await ctx.app.request('/readyz');
    expect(ready.status).toBe(503);
    expect((await json(ready)).checks.redis).toBe('down');

    // Redis comes back and a worker's sweep runs: a worker process is another client, with its
    // own connection, so the sweep runs here on a fresh connection to the real server.
    await proxy.restore();
    const workerQueues = new EventQueues(
      createRedis(inject('redisUrl'), 'producer'),
      ctx.redisPrefix,
      ctx.config.queuePartitions,
    );
    try {
      let swept: Awaited<ReturnType<typeof sweepOnce>> | null = null;
      let lastError: unknown = null;
      for (let round = 0; round < 50 && !swept; round++) {
        swept = await sweepOnce({ ...ctx.rt, queues: workerQueues }, 0).catch((err) => {
          lastError = err;
          return null;
        });
        if (!swept) await new Promise((r) => setTimeout(r, 200));
      }
      if (!swept) throw new Error(`the sweep kept failing: ${String(lastError)}`);
      expect(swept.events).toBeGreaterThanOrEqual(1);
      const counts = await workerQueues.counts();
      expect(counts.reduce((s, q) => s + (q.counts.waiting ?? 0), 0)).toBeGreaterThanOrEqual(1);
    } finally {
      await workerQueues.close();
      workerQueues.redis.disconnect();
    }
    // And the API process itself recovers: readiness turns green again.
    let readyAgain = 0;
    for (let i = 0; i < 100 && readyAgain !== 200; i++) {
      readyAgain = (await ctx.app.request('/readyz')).status;
      if (readyAgain !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(readyAgain).toBe(200);
  });
});

describe('PostgreSQL down', () => {
  let ctx: TestContext;
  let proxy: TcpProxy;
  beforeAll(async () => {
    proxy = new TcpProxy('127.0.0.1', 5432);
    await proxy.start();
    ctx = await createTestContext({
      platformCacheTtlMs: 60_000,
      urls: (u) => ({ ...u, databaseUrl: proxied(u.databaseUrl, proxy.port) }),
    });
  });
  afterAll(async () => {
    await proxy.restore().catch(() => {});
    await ctx.close();
  });

  it('answers 503 with Retry-After and stores nothing; accepts again when it is back', async () => {
    const platform = await ctx.addPlatform();
    // Warm the platform and material caches, as a running server would have them.
    expect(
      (
        await ctx.post(`/v1/ingest/${platform.code}/events`, JSON.stringify(tradeCreated()), {
          secret: platform.secret,
        })
      ).status,
    ).toBe(202);
    await proxy.cut();
    const id = uid('msg_');
    const body = JSON.stringify(tradeCreated());
    const res = await ctx.post(`/v1/ingest/${platform.code}/events`, body, { secret: platform.secret, id });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBeTruthy();
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const batch = await ctx.post(
      `/v1/ingest/${platform.code}/batches`,
      `${JSON.stringify({ id: uid('ev_'), ...tradeCreated() })}\n`,
      {
        secret: platform.secret,
        contentType: 'application/x-ndjson',
      },
    );
    expect(batch.status).toBe(503);
    await proxy.restore();
    const retry = await ctx.post(`/v1/ingest/${platform.code}/events`, body, { secret: platform.secret, id });
    expect(retry.status).toBe(202);
  });
});
