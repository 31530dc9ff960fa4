import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { eventsJobId, JOBS, MAX_EVENTS_PER_JOB, partitionOf, queueName } from './jobs';

export interface EventKey {
  platform: string;
  eventId: string;
}

const DEFAULT_JOB_OPTIONS = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: { age: 3_600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3_600 },
} as const;

/**
 * Producer side of the partitioned event queues. Used by the API (after commit) and by the sweep.
 */
export class EventQueues {
  readonly queues: Queue[];

  constructor(
    private readonly connection: Redis,
    readonly prefix: string,
    readonly partitions: number,
  ) {
    this.queues = Array.from(
      { length: partitions },
      (_, p) =>
        new Queue(queueName('events', p), { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS }),
    );
  }

  /** Enqueues jobs for the given stored events, grouped by platform in chunks. */
  async enqueue(keys: readonly EventKey[]): Promise<void> {
    const byPlatform = new Map<string, string[]>();
    for (const k of keys) {
      const ids = byPlatform.get(k.platform) ?? [];
      if (ids.length === 0) byPlatform.set(k.platform, ids);
      ids.push(k.eventId);
    }
    const byQueue = new Map<number, { name: string; data: unknown; opts: { jobId: string } }[]>();
    for (const [platform, ids] of byPlatform) {
      for (let i = 0; i < ids.length; i += MAX_EVENTS_PER_JOB) {
        const chunk = ids.slice(i, i + MAX_EVENTS_PER_JOB);
        const data = JOBS['events.process'].parse({ platform, event_ids: chunk });
        const jobId = eventsJobId(platform, chunk);
        const p = partitionOf(jobId, this.partitions);
        const list = byQueue.get(p) ?? [];
        if (list.length === 0) byQueue.set(p, list);
        list.push({ name: 'events.process', data, opts: { jobId } });
      }
    }
    await Promise.all(
      [...byQueue].map(([p, jobs]) =>
        this.queues[p]!.addBulk(jobs.map((j) => ({ ...j, opts: { ...DEFAULT_JOB_OPTIONS, ...j.opts } }))),
      ),
    );
  }

  async counts(): Promise<
    { queue: string; counts: Record<string, number>; oldestWaitingMs: number | null }[]
  > {
    return Promise.all(
      this.queues.map(async (q) => {
        const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
        const [oldest] = await q.getJobs(['wait'], 0, 0, true);
        return { queue: q.name, counts, oldestWaitingMs: oldest ? Date.now() - oldest.timestamp : null };
      }),
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.queues.map((q) => q.close()));
  }

  /** Used by tests and by the redis-loss drill: not part of normal operation. */
  get redis(): Redis {
    return this.connection;
  }
}
