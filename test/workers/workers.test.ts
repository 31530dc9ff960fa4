import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertPlatform } from '../../src/repositories/platforms.repository';
import { generateSecret } from '../../src/security/webhook';
import { generateDataset } from '../../src/simulate/generator';
import { createTestContext, type TestContext } from '../support/context';
import { drain } from '../support/pipeline';
import { backlog, startWorkerProcess, stopProcess, waitSettled } from '../support/worker-process';

/**
 * Issue 3, "Several workers": real `serve worker` processes on a simulated data set. Two workers
 * give the same results as one in-process run; a worker killed with SIGKILL mid-job loses
 * nothing; Redis losing every key mid-run loses nothing (the sweep recovers it). Every event is
 * counted, and the results are compared with a reference database processed in-process.
 */
const PLATFORM = 'wkr';
const SECRET = generateSecret();
const DATA = generateDataset({ seed: 11, months: 2, scale: 0.1, start: '2026-08', platform: PLATFORM });
const env = { RETRACE_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') };

let reference: TestContext;
beforeAll(async () => {
  reference = await createTestContext({ env });
  await ingest(reference);
  await drain(reference);
}, 240_000);
afterAll(async () => reference.close());

async function ingest(ctx: TestContext): Promise<number> {
  await insertPlatform(ctx.rt.db, {
    code: PLATFORM,
    name: 'workers test',
    rateLimitPerSecond: 100_000,
    secretEnc: ctx.rt.keyring.encrypt('platform-secrets', SECRET),
  });
  let accepted = 0;
  for (let i = 0; i < DATA.events.length; i += 500) {
    const body = `${DATA.events
      .slice(i, i + 500)
      .map((e) => JSON.stringify(e))
      .join('\n')}\n`;
    const res = await ctx.post(`/v1/ingest/${PLATFORM}/batches`, body, {
      secret: SECRET,
      contentType: 'application/x-ndjson',
    });
    expect(res.status).toBe(200);
    accepted += ((await res.json()) as { accepted: number }).accepted;
  }
  return accepted;
}

async function snapshot(ctx: TestContext) {
  const db = ctx.rt.db;
  return {
    allocations: await db
      .selectFrom('allocations')
      .select(['sale_trade_id', 'purchase_trade_id', 'basis', 'quantity_g'])
      .orderBy('sale_trade_id')
      .orderBy('purchase_trade_id')
      .orderBy('basis')
      .execute(),
    unsourced: await db
      .selectFrom('sale_results')
      .select(['trade_id', 'material', 'unsourced_g'])
      .orderBy('trade_id')
      .orderBy('material')
      .execute(),
    flows: await db
      .selectFrom('trade_flows')
      .select(['trade_id', 'payment_status', 'weighing_status', 'invoice_status', 'overall'])
      .orderBy('trade_id')
      .execute(),
    findings: await db
      .selectFrom('anomalies')
      .select(['rule', 'party_key', 'dedupe_key', 'severity'])
      .where('status', '<>', 'closed')
      .orderBy('rule')
      .orderBy('party_key')
      .orderBy('dedupe_key')
      .execute(),
  };
}

describe('worker processes', () => {
  it('two workers at once give the same results as one in-process run', async () => {
    const ctx = await createTestContext({ env });
    try {
      const accepted = await ingest(ctx);
      const workers = [startWorkerProcess(ctx), startWorkerProcess(ctx)];
      try {
        const b = await waitSettled(ctx);
        expect(b.processed).toBe(accepted);
        expect(b.dead).toBe(0);
      } finally {
        await Promise.all(workers.map((w) => stopProcess(w)));
      }
      expect(await snapshot(ctx)).toEqual(await snapshot(reference));
    } finally {
      await ctx.close();
    }
  }, 240_000);

  it('a worker killed with SIGKILL mid-run loses nothing: another one finishes the work', async () => {
    const ctx = await createTestContext({ env });
    try {
      const accepted = await ingest(ctx);
      const first = startWorkerProcess(ctx);
      // Let it get going, then kill it without warning, in the middle of its jobs.
      for (let i = 0; i < 200 && (await backlog(ctx)).processed === 0; i++)
        await new Promise((r) => setTimeout(r, 50));
      await stopProcess(first, 'SIGKILL');
      const during = await backlog(ctx);
      const second = startWorkerProcess(ctx);
      try {
        const b = await waitSettled(ctx);
        expect(b.processed).toBe(accepted);
        expect(b.dead).toBe(0);
        expect(during.pending + during.processed).toBe(accepted);
      } finally {
        await stopProcess(second);
      }
      expect(await snapshot(ctx)).toEqual(await snapshot(reference));
    } finally {
      await ctx.close();
    }
  }, 240_000);

  it('Redis losing every key mid-run (FLUSHALL of our prefix) loses nothing: the sweep recovers it', async () => {
    const ctx = await createTestContext({ env });
    try {
      const accepted = await ingest(ctx);
      const worker = startWorkerProcess(ctx);
      try {
        for (let i = 0; i < 200 && (await backlog(ctx)).processed === 0; i++)
          await new Promise((r) => setTimeout(r, 50));
        // Delete every key of this run's prefix: the same as a FLUSHALL for us, without wiping
        // other test runs sharing the server.
        const redis = ctx.rt.queues.redis;
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${ctx.redisPrefix}*`, 'COUNT', 1000);
          cursor = next;
          if (keys.length > 0) await redis.del(...keys);
        } while (cursor !== '0');
        const b = await waitSettled(ctx);
        expect(b.processed).toBe(accepted);
        expect(b.dead).toBe(0);
      } finally {
        await stopProcess(worker);
      }
      expect(await snapshot(ctx)).toEqual(await snapshot(reference));
    } finally {
      await ctx.close();
    }
  }, 240_000);

  it('stops gracefully on SIGTERM (exit code 0)', async () => {
    const ctx = await createTestContext({ env });
    try {
      const worker = startWorkerProcess(ctx);
      await worker.ready;
      expect(await stopProcess(worker, 'SIGTERM')).toBe(0);
    } finally {
      await ctx.close();
    }
  }, 60_000);

  it('stops on SIGTERM while Redis is unreachable too: jobs cannot finish there, so it does not wait for them', async () => {
    const ctx = await createTestContext({ env });
    try {
      const worker = startWorkerProcess(ctx, { REDIS_URL: 'redis://127.0.0.1:1' });
      // It never says "workers started" (they cannot connect): its first connection error is
      // logged once its signal handlers are in place.
      await new Promise<void>((resolve) => {
        let seen = '';
        worker.stdout!.on('data', (chunk: Buffer) => {
          seen = (seen + chunk.toString()).slice(-4096);
          if (seen.includes('"worker connection error"')) resolve();
        });
      });
      expect(await stopProcess(worker, 'SIGTERM')).toBe(0);
    } finally {
      await ctx.close();
    }
  }, 60_000);
});
