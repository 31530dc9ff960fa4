import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkers } from '../../workers/main';
import { createTestContext, type TestContext } from '../support/context';

/**
 * WORKER_QUEUES: a worker process consumes only the queues it is given, so reconciliation and the
 * anomaly rules can run on processes of their own (README, configuration).
 */
let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => ctx.close());

describe('serve worker with WORKER_QUEUES', () => {
  it('starts consumers for the listed queues only, on every partition', async () => {
    const running = createWorkers({
      config: { ...ctx.config, workerQueues: ['events', 'streams'] },
      db: ctx.rt.db,
      keyring: ctx.rt.keyring,
      queues: ctx.rt.queues,
      metrics: ctx.rt.metrics,
      log: ctx.rt.log,
    });
    try {
      await Promise.all(running.workers.map((w) => w.waitUntilReady()));
      const names = running.workers.map((w) => w.name).sort();
      const partitions = Array.from({ length: ctx.config.queuePartitions }, (_, p) => p);
      expect(names).toEqual(
        [...partitions.map((p) => `{events-${p}}`), ...partitions.map((p) => `{streams-${p}}`)].sort(),
      );
    } finally {
      await running.close();
    }
  });
});
