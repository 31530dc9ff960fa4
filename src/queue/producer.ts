import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  eventsJobId,
  JOBS,
  MAX_EVENTS_PER_JOB,
  MONTHLY_REPORTS_SCHEDULE,
  partitionOf,
  type QueueBase,
  queueName,
  reportJobId,
  rulesJobId,
  STREAMS_PER_JOB,
  streamsJobId,
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

/**
 * Completed jobs are removed at once: their rows say what was done, and a retained job would make
 * Redis ignore a re-add of the same id. Failed jobs are kept a day for inspection; the sweep
 * re-adds their work under a new id (see `resend`).
 */
const DEFAULT_JOB_OPTIONS = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: true,
  removeOnFail: { age: 24 * 3_600, count: 5_000 },
} as const;

/**
 * Options of a hand-over. `resend` marks the sweep's re-adds: their job ids get a suffix of the
 * minute, so a job that failed for good (and is kept in Redis) or was lost does not block the
 * work, while one sweep round's re-adds still collapse with each other.
 */
export interface EnqueueOptions {
  resend?: boolean;
  /**
   * Rule evaluations only: a job handing its period on to a later job of its own (postponed while
   * processing is busy). Its id gets a suffix of the current 5-second slot instead of the minute:
   * re-added under the minute's suffix, a job that was itself a sweep's re-add would collide with
   * its own id while it is still active, and BullMQ would drop the follow-up — leaving the period
   * to the next sweep. The follow-up runs at least `delayMs` (≥ 5 s) later, in a later slot, so
   * it cannot collide with itself either; postponements of one period within a slot collapse.
   */
  followUp?: boolean;
  /** Rule evaluations only: wait this long instead of the usual debounce. */
  delayMs?: number;
}

const suffix = (o?: EnqueueOptions) =>
  o?.followUp
    ? `.p${Math.floor(Date.now() / 5_000)}`
    : o?.resend
      ? `.s${Math.floor(Date.now() / 60_000)}`
      : '';

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
      Array.from({ length: partitions }, (_, p) => {
        const queue = new Queue(queueName(base, p), {
          connection,
          prefix,
          defaultJobOptions: DEFAULT_JOB_OPTIONS,
        });
        // Without a listener each of its connections' errors would go to stderr as a stack trace,
        // several a second while Redis is away. The outage shows in /readyz, and every command
        // that fails is reported where it is awaited.
        queue.on('error', () => {});
        return queue;
      });
    this.byBase = {
      events: make('events'),
      streams: make('streams'),
      rules: make('rules'),
      reports: make('reports'),
    };
  }

  get queues(): Queue[] {
    return [...this.byBase.events, ...this.byBase.streams, ...this.byBase.rules, ...this.byBase.reports];
  }

  /** The first rules partition holds the rules' job scheduler (the clock tick). */
  get schedulerQueue(): Queue {
    return this.byBase.rules[0]!;
  }

  /** The first reports partition holds the monthly reports' job scheduler. */
  get reportsSchedulerQueue(): Queue {
    return this.byBase.reports[0]!;
  }

  /** Enqueues jobs for the given stored events, grouped by platform in chunks. */
  async enqueue(keys: readonly EventKey[], o?: EnqueueOptions): Promise<void> {
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
        const jobId = eventsJobId(platform, chunk) + suffix(o);
        jobs.push({ key: jobId, job: { name: 'events.process', data, opts: { jobId } } });
      }
    }
    await this.addAll('events', jobs);
  }

  /**
   * Enqueues allocation of dirty streams: partitioned by party (so one party's streams share a
   * partition), up to STREAMS_PER_JOB streams a job.
   */
  async enqueueStreams(marks: readonly StreamMark[], o?: EnqueueOptions): Promise<void> {
    const byPartition = new Map<number, StreamMark[]>();
    for (const m of marks) {
      const p = partitionOf(m.partyKey, this.partitions);
      const list = byPartition.get(p) ?? [];
      if (list.length === 0) byPartition.set(p, list);
      list.push(m);
    }
    const jobs: { key: string; job: BulkJob }[] = [];
    for (const list of byPartition.values()) {
      // In key order: the same marks, in whatever order they come, make the same jobs (ids).
      list.sort((a, b) => compareText(a.partyKey, b.partyKey) || compareText(a.material, b.material));
      for (let i = 0; i < list.length; i += STREAMS_PER_JOB) {
        const chunk = list.slice(i, i + STREAMS_PER_JOB);
        const data = JOBS['streams.allocate'].schema.parse({
          streams: chunk.map((m) => ({ party_key: m.partyKey, material: m.material })),
        });
        jobs.push({
          key: chunk[0]!.partyKey,
          job: { name: 'streams.allocate', data, opts: { jobId: streamsJobId(chunk) + suffix(o) } },
        });
      }
    }
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
    // After each Asia/Shanghai month closes. The handler is idempotent per (kind, division,
    // period, data version), and the workers' report sweep catches up a run this scheduler missed
    // (src/reports/schedule.ts), so a lost or repeated tick changes nothing.
    await this.reportsSchedulerQueue.upsertJobScheduler(
      'reports.monthly',
      { pattern: MONTHLY_REPORTS_SCHEDULE.pattern, tz: MONTHLY_REPORTS_SCHEDULE.tz },
      {
        name: 'reports.monthly',
        data: {},
        opts: { attempts: 5, backoff: { type: 'exponential', delay: 60_000 } },
      },
    );
  }

  /** Enqueues rendering of reports (partitioned by report id). */
  async enqueueReports(reports: readonly { id: bigint; attempt: number }[]): Promise<void> {
    const jobs = reports.map((r) => ({
      key: r.id.toString(),
      job: {
        name: 'reports.render',
        data: JOBS['reports.render'].schema.parse({ report_id: r.id.toString() }),
        opts: { jobId: reportJobId(r.id, r.attempt) },
      },
    }));
    await this.addAll('reports', jobs);
  }

  /** Enqueues rule evaluations of marked periods (partitioned by period). */
  async enqueueRules(
    marks: readonly { period: string; generation: bigint }[],
    o?: EnqueueOptions,
  ): Promise<void> {
    const jobs = marks.map((m) => ({
      key: m.period,
      job: {
        name: 'rules.evaluate',
        data: JOBS['rules.evaluate'].schema.parse({ period: m.period, generation: m.generation.toString() }),
        opts: {
          jobId: rulesJobId(m.period, m.generation) + suffix(o),
          delay: o?.delayMs ?? RULES_DEBOUNCE_MS,
        },
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

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
