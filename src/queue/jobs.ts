import { createHash } from 'node:crypto';
import { z } from 'zod';

/** Streams one allocation job carries at most (they share a queue partition). */
export const STREAMS_PER_JOB = 16;

const streamSchema = z.object({ party_key: z.string().min(1), material: z.string().min(1) });

/**
 * The job catalogue: every job name with its queue and payload schema. Payloads are checked
 * with zod when produced and again when consumed. Jobs carry keys of PostgreSQL rows, never the
 * data itself: the rows are the truth, a job is only a reminder that they need work, and a sweep
 * re-creates any reminder Redis loses.
 */
export const JOBS = {
  /** Apply stored events (state 'pending') to the normalised records. */
  'events.process': {
    queue: 'events',
    schema: z.object({
      platform: z.string().min(1),
      event_ids: z.array(z.string().min(1)).min(1).max(1000),
    }),
  },
  /**
   * Re-allocate (party, material) streams marked dirty in `stream_dirty`: up to
   * STREAMS_PER_JOB streams of one partition (a job costs the queue about as much as the
   * allocation of a stream, and most streams are allocated together anyway). A job of the
   * earlier form, one stream, is still read (jobs queued before an upgrade).
   */
  'streams.allocate': {
    queue: 'streams',
    schema: z.union([
      z.object({ streams: z.array(streamSchema).min(1).max(STREAMS_PER_JOB) }),
      streamSchema.transform((s) => ({ streams: [s] })),
    ]),
  },
  /**
   * Evaluate the anomaly rules for one period marked in `rule_dirty_periods`. `generation`: the
   * mark's generation when the job was added (absent in jobs added before it was recorded).
   */
  'rules.evaluate': {
    queue: 'rules',
    schema: z.object({
      period: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/),
      generation: z
        .string()
        .regex(/^[1-9]\d{0,18}$/)
        .optional(),
    }),
  },
  /** Scheduled: mark the data clocks' current periods, where time limits ripen. */
  'rules.tick': {
    queue: 'rules',
    schema: z.object({}),
  },
  /** Render the files of one report whose content is frozen in `reports` (status queued). */
  'reports.render': {
    queue: 'reports',
    schema: z.object({ report_id: z.string().regex(/^[1-9]\d{0,18}$/) }),
  },
  /**
   * Scheduled (cron, Asia/Shanghai): produce the last closed period's monthly_anomalies report
   * of every scheduled division (src/reports/schedule.ts).
   */
  'reports.monthly': {
    queue: 'reports',
    schema: z.object({}),
  },
} as const;

export type JobName = keyof typeof JOBS;
export type JobPayload<N extends JobName> = z.infer<(typeof JOBS)[N]['schema']>;

/** Queues, each split into partitions whose keys share a Redis Cluster hash tag. */
export const QUEUE_BASES = ['events', 'streams', 'rules', 'reports'] as const;
export type QueueBase = (typeof QUEUE_BASES)[number];

export function queueName(base: QueueBase, partition: number): string {
  // The braces are the hash tag: all keys of one partition live in one cluster slot.
  return `{${base}-${partition}}`;
}

export function partitionOf(key: string, partitions: number): number {
  return createHash('sha1').update(key).digest().readUInt32BE(0) % partitions;
}

const digest = (s: string) => createHash('sha256').update(s).digest('base64url').slice(0, 32);

/** Job ids are derived from the rows' keys, so re-enqueueing the same rows is a no-op in Redis. */
export function eventsJobId(platform: string, eventIds: readonly string[]): string {
  return `ev.${platform}.${eventIds.length}.${digest(eventIds.join('\n'))}`;
}

/**
 * The same streams at the same generations give the same id, in any order; a newer mark of a
 * stream always gets a new job, even while an older job for the stream is running (which would
 * make Redis ignore a re-add of the same id).
 */
export function streamsJobId(
  marks: readonly { partyKey: string; material: string; generation: bigint }[],
): string {
  const lines = marks.map((m) => `${m.partyKey}\u001f${m.material}\u001f${m.generation}`).sort();
  return `al.${marks.length}.${digest(lines.join('\n'))}`;
}

export function rulesJobId(period: string, generation: bigint): string {
  return `ru.${period}.${generation}`;
}

/**
 * When the monthly reports are produced: 02:30:00 Asia/Shanghai on the 1st of each month, i.e.
 * once the previous period has closed (BullMQ cron with seconds: sec min hour day month weekday).
 */
export const MONTHLY_REPORTS_SCHEDULE = { pattern: '0 30 2 1 * *', tz: 'Asia/Shanghai' } as const;

/**
 * One job per (report, attempt count): the sweep's re-enqueue of a report whose job was lost gets
 * a fresh id, while re-adding the job of a report still waiting is a no-op.
 */
export function reportJobId(reportId: bigint, attempt: number): string {
  return `rp.${reportId}.${attempt}`;
}

/**
 * Events per processing transaction (and per job). A transaction runs about 30 statements whatever
 * its size, so larger batches amortise them: 1,000 processed ~20–30% faster than 500 in
 * `bench:processing` (shared machine). At most the job schema's 1,000 ids.
 */
export const MAX_EVENTS_PER_JOB = 1000;
