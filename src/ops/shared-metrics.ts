import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import {
  AggregatorRegistry,
  type MetricObjectWithValues,
  type MetricValue,
  type Registry,
} from 'prom-client';

/**
 * Worker processes serve no HTTP, so their metrics (processing latency, jobs, events processed,
 * the sweep) reach the API's `/metrics` through Redis: each worker writes a snapshot of its
 * registry into one hash every few seconds, and a scrape sums the fresh snapshots with the API's
 * own registry (prom-client's AggregatorRegistry, as for a Node cluster: counters and histograms
 * add up, so the histogram is the whole deployment's). A snapshot older than `maxAgeMs` is
 * dropped: its process is gone, and Prometheus sees its counters fall as a reset. Redis may lose
 * the hash at any time; the next snapshots rebuild it. One key, so it lives in one slot of a
 * Redis Cluster.
 */
export const SNAPSHOT_INTERVAL_MS = 5_000;
const MAX_AGE_MS = 3 * SNAPSHOT_INTERVAL_MS;

type Snapshot = MetricObjectWithValues<MetricValue<string>>[];

export function sharedMetricsKey(prefix: string): string {
  return `${prefix}:metrics:processes`;
}

/** Starts publishing `registry` under a field of its own; `stop` removes it. */
export function publishMetrics(
  redis: Redis,
  key: string,
  registry: Registry,
  intervalMs = SNAPSHOT_INTERVAL_MS,
): { field: string; publish: () => Promise<void>; stop: () => Promise<void> } {
  const field = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const publish = async () => {
    const metrics = await registry.getMetricsAsJSON();
    await redis
      .multi()
      .hset(key, field, JSON.stringify({ at: Date.now(), metrics }))
      .pexpire(key, MAX_AGE_MS * 4)
      .exec();
  };
  const timer = setInterval(() => {
    // Redis away: the next tick tries again; the API shows what it last had, then nothing.
    publish().catch(() => {});
  }, intervalMs);
  timer.unref();
  return {
    field,
    publish,
    stop: async () => {
      clearInterval(timer);
      await redis.hdel(key, field).catch(() => {});
    },
  };
}

/** The other processes' fresh snapshots; stale ones are deleted. */
export async function readSharedMetrics(
  redis: Redis,
  key: string,
  maxAgeMs = MAX_AGE_MS,
): Promise<Snapshot[]> {
  const all = await redis.hgetall(key);
  const now = Date.now();
  const fresh: Snapshot[] = [];
  const stale: string[] = [];
  for (const [field, value] of Object.entries(all)) {
    try {
      const s = JSON.parse(value) as { at: number; metrics: Snapshot };
      if (now - s.at <= maxAgeMs && Array.isArray(s.metrics)) fresh.push(s.metrics);
      else stale.push(field);
    } catch {
      stale.push(field);
    }
  }
  if (stale.length > 0) await redis.hdel(key, ...stale);
  return fresh;
}

/** The exposition text of `own` plus the shared snapshots, summed metric by metric. */
export async function aggregatedMetrics(
  own: Registry,
  shared: readonly Snapshot[],
): Promise<{ body: string; contentType: string }> {
  if (shared.length === 0) return { body: await own.metrics(), contentType: own.contentType };
  const registry = AggregatorRegistry.aggregate([await own.getMetricsAsJSON(), ...shared]);
  return { body: await registry.metrics(), contentType: registry.contentType };
}
