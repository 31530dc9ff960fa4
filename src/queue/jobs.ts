import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * The job catalogue: every job name with its payload schema. Payloads are checked with zod when
 * produced and again when consumed. Jobs carry keys of PostgreSQL rows, never the data itself:
 * the rows are the truth, a job is only a reminder that they need work.
 */
export const JOBS = {
  /** Hand stored events (state 'pending') to processing. */
  'events.process': z.object({
    platform: z.string().min(1),
    event_ids: z.array(z.string().min(1)).min(1).max(1000),
  }),
} as const;

export type JobName = keyof typeof JOBS;
export type JobPayload<N extends JobName> = z.infer<(typeof JOBS)[N]>;

/** Queues, each split into partitions whose keys share a Redis Cluster hash tag. */
export const QUEUE_BASES = { events: 'events' } as const;
export type QueueBase = keyof typeof QUEUE_BASES;

export function queueName(base: QueueBase, partition: number): string {
  // The braces are the hash tag: all keys of one partition live in one cluster slot.
  return `{${QUEUE_BASES[base]}-${partition}}`;
}

export function partitionOf(key: string, partitions: number): number {
  return createHash('sha1').update(key).digest().readUInt32BE(0) % partitions;
}

/** Job ids are derived from the rows' keys, so re-enqueueing the same rows is a no-op in Redis. */
export function eventsJobId(platform: string, eventIds: readonly string[]): string {
  const digest = createHash('sha256').update(eventIds.join('\n')).digest('base64url').slice(0, 32);
  return `ev.${platform}.${eventIds.length}.${digest}`;
}

export const MAX_EVENTS_PER_JOB = 500;
