import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOBS, partitionOf, STREAMS_PER_JOB } from '../../src/queue/jobs';
import type { StreamMark } from '../../src/queue/producer';
import { createTestContext, type TestContext, uid } from '../support/context';

/**
 * Allocation jobs carry up to STREAMS_PER_JOB streams of one queue partition
 * (docs/architecture.md, "Allocation and chains"): fewer queue round trips than one job a stream.
 */
let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => ctx.close());

const streamQueues = (): Queue[] => ctx.rt.queues.queues.filter((q) => q.name.startsWith('{streams-'));

async function queuedStreamJobs() {
  const jobs = [];
  for (const q of streamQueues()) {
    for (const job of await q.getJobs(['waiting', 'delayed', 'prioritized']))
      jobs.push({ queue: q.name, job });
  }
  return jobs;
}

describe('streams.allocate jobs', () => {
  it('groups marks by partition, at most STREAMS_PER_JOB streams a job, each mark once', async () => {
    const marks: StreamMark[] = Array.from({ length: 45 }, (_, i) => ({
      partyKey: uid('party'),
      material: i % 3 === 0 ? 'CU' : 'FE_HEAVY',
      generation: BigInt(i + 1),
    }));
    await ctx.rt.queues.enqueueStreams(marks);
    const jobs = await queuedStreamJobs();
    const seen: string[] = [];
    for (const { queue, job } of jobs) {
      const data = JOBS['streams.allocate'].schema.parse(job.data);
      expect(data.streams.length).toBeGreaterThan(0);
      expect(data.streams.length).toBeLessThanOrEqual(STREAMS_PER_JOB);
      for (const s of data.streams) {
        expect(queue).toBe(`{streams-${partitionOf(s.party_key, ctx.config.queuePartitions)}}`);
        seen.push(`${s.party_key}/${s.material}`);
      }
    }
    expect(seen.sort()).toEqual(marks.map((m) => `${m.partyKey}/${m.material}`).sort());
    // 45 marks over 2 partitions: no more jobs than the chunks need.
    const perPartition = new Map<number, number>();
    for (const m of marks) {
      const p = partitionOf(m.partyKey, ctx.config.queuePartitions);
      perPartition.set(p, (perPartition.get(p) ?? 0) + 1);
    }
    const expected = [...perPartition.values()].reduce((n, c) => n + Math.ceil(c / STREAMS_PER_JOB), 0);
    expect(jobs).toHaveLength(expected);

    // The same marks again, in another order: the same job ids, nothing new in Redis.
    await ctx.rt.queues.enqueueStreams([...marks].reverse());
    expect(await queuedStreamJobs()).toHaveLength(jobs.length);
    // A newer generation of a stream is new work: a new job.
    await ctx.rt.queues.enqueueStreams([{ ...marks[0]!, generation: 1_000n }]);
    expect(await queuedStreamJobs()).toHaveLength(jobs.length + 1);
  });

  it('reads a job of the earlier one-stream form', () => {
    expect(JOBS['streams.allocate'].schema.parse({ party_key: 'P', material: 'CU' })).toEqual({
      streams: [{ party_key: 'P', material: 'CU' }],
    });
  });

  it('refuses an empty job and one over STREAMS_PER_JOB streams', () => {
    const schema = JOBS['streams.allocate'].schema;
    expect(schema.safeParse({ streams: [] }).success).toBe(false);
    const many = Array.from({ length: STREAMS_PER_JOB + 1 }, (_, i) => ({
      party_key: `P${i}`,
      material: 'CU',
    }));
    expect(schema.safeParse({ streams: many }).success).toBe(false);
  });
});
