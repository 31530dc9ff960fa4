import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  eventsJobId,
  JOBS,
  MAX_EVENTS_PER_JOB,
  partitionOf,
  type QueueBase,
  queueName,
  rulesJobId,
  streamJobId,
} from './jobs';

export interface EventKey {
  platform: string;
  eventId: string;
}

export interface StreamMark {
  partyKey: string;
  material: string;
  generation: bigint;
}

const DEFAULT_JOB_OPTIONS = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: { age: 3_600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3_600 },
} as const;

interface BulkJob {
  name: string;
  data: unknown;
  opts: { jobId: string; delay?: number };
}

/** Rule evaluations wait this long, so that a burst of batches is evaluated once. */
const RULES_DEBOUNCE_MS = 1_000;

/**
 * Producer side of the partitioned queues. Used by the API (after commit), by workers (for the
 * follow-up work of a job) and by the sweep.
 */
export class EventQueues {
  private readonly byBase: Record<QueueBase, Queue[]>;

  constructor(
    private readonly connection: Redis,
    readonly prefix: string,
    readonly partitions: number,
  ) {
    const make = (base: QueueBase) =>
      Array.from(
        { length: partitions },
        (_, p) =>
          new Queue(queueName(base, p), { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS }),
      );
    this.byBase = { events: make('events'), streams: make('streams'), rules: make('rules') };
  }

  get queues(): Queue[] {
    return [...this.byBase.events, ...this.byBase.streams, ...this.byBase.rules];
  }

  /** The first rules partition holds the job schedulers (ticks and monthly reports). */
  get schedulerQueue(): Queue {
    return this.byBase.rules[0]!;
  }

  /** Enqueues jobs for the given stored events, grouped by platform in chunks. */
  async enqueue(keys: readonly EventKey[]): Promise<void> {
    const byPlatform = new Map<string, string[]>();
    for (const k of keys) {
      const ids = byPlatform.get(k.platform) ?? [];
      if (ids.length === 0) byPlatform.set(k.platform, ids);
      ids.push(k.eventId);
    }
    const jobs: { key: string; job: BulkJob }[] = [];
    for (const [platform, ids] of byPlatform) {
      for (let i = 0; i < ids.length; i += MAX_EVENTS_PER_JOB) {
        const chunk = ids.slice(i, i + MAX_EVENTS_PER_JOB);
        const data = JOBS['events.process'].schema.parse({ platform, event_ids: chunk });
        const jobId = eventsJobId(platform, chunk);
        jobs.push({ key: jobId, job: { name: 'events.process', data, opts: { jobId } } });
      }
    }
    await this.addAll('events', jobs);
  }

  /** Enqueues allocation of dirty streams (partitioned by party, so one party's streams share a partition). */
  async enqueueStreams(marks: readonly StreamMark[]): Promise<void> {
    const jobs = marks.map((m) => {
      const data = JOBS['streams.allocate'].schema.parse({ party_key: m.partyKey, material: m.material });
      return {
        key: m.partyKey,
        job: {
          name: 'streams.allocate',
          data,
          opts: { jobId: streamJobId(m.partyKey, m.material, m.generation) },
        },
      };
    });
    await this.addAll('streams', jobs);
  }

  /**
   * Job schedulers live in Redis, so they are (re-)declared by every worker at start and by the
   * sweep, which makes them survive a Redis that lost its data. Idempotent.
   */
  async ensureSchedulers(): Promise<void> {
    await this.schedulerQueue.upsertJobScheduler(
      'rules.tick',
      { every: 60_000 },
      { name: 'rules.tick', data: {} },
    );
  }

  /** Enqueues rule evaluations of marked periods (partitioned by period). */
  async enqueueRules(marks: readonly { period: string; generation: bigint }[]): Promise<void> {
    const jobs = marks.map((m) => ({
      key: m.period,
      job: {
        name: 'rules.evaluate',
        data: JOBS['rules.evaluate'].schema.parse({ period: m.period }),
        opts: { jobId: rulesJobId(m.period, m.generation), delay: RULES_DEBOUNCE_MS },
      },
    }));
    await this.addAll('rules', jobs);
  }

  private async addAll(base: QueueBase, jobs: readonly { key: string; job: BulkJob }[]): Promise<void> {
    const byPartition = new Map<number, BulkJob[]>();
    for (const { key, job } of jobs) {
      const p = partitionOf(key, this.partitions);
      const list = byPartition.get(p) ?? [];
      if (list.length === 0) byPartition.set(p, list);
      list.push(job);
    }
    await Promise.all(
      [...byPartition].map(([p, list]) =>
        this.byBase[base][p]!.addBulk(
          list.map((j) => ({ ...j, opts: { ...DEFAULT_JOB_OPTIONS, ...j.opts } })),
        ),
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

  /** The producer connection (readiness checks, rate limiting). */
  get redis(): Redis {
    return this.connection;
  }
}
