import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { leaseSize, RateLimiter } from '../../src/ingest/rate-limit';

/**
 * The per-platform limit across API processes: each RateLimiter below stands for one process,
 * all sharing one Redis and one fixed clock (one window), so the counts are exact.
 */
describe('RateLimiter', () => {
  let redis: Redis;
  const prefix = `rt-${inject('runId')}-${randomBytes(4).toString('hex')}`;
  const second = 1_790_000_000;
  const clock = () => second * 1000 + 500;

  beforeAll(() => {
    redis = new Redis(inject('redisUrl'), { lazyConnect: false });
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  async function takeMany(limiters: RateLimiter[], platform: string, limit: number, n: number) {
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => limiters[i % limiters.length]!.take(platform, limit)),
    );
    return { ok: results.filter((r) => r.ok).length, refused: results.filter((r) => !r.ok) };
  }

  it('a small limit is counted request by request: exactly the limit passes, across processes', async () => {
    const limiters = [new RateLimiter(redis, prefix, clock), new RateLimiter(redis, prefix, clock)];
    const { ok, refused } = await takeMany(limiters, 'small', 3, 12);
    expect(ok).toBe(3);
    expect(refused).toHaveLength(9);
    expect(refused[0]).toEqual({ ok: false, retryAfterSeconds: 1 });
    expect(Number(await redis.get(`${prefix}:ratelimit:{small}:${second}`))).toBeGreaterThanOrEqual(3);
  });

  it('a large limit is leased in blocks: never more than the limit passes, and few Redis calls', async () => {
    const limit = 1_000;
    const limiters = [1, 2, 3].map(() => new RateLimiter(redis, prefix, clock));
    const calls = countLeaseCalls(redis);
    const { ok } = await takeMany(limiters, 'large', limit, 1_300);
    expect(ok).toBeLessThanOrEqual(limit);
    // What the processes leased and did not use is at most one block each.
    expect(ok).toBeGreaterThanOrEqual(limit - limiters.length * leaseSize(limit));
    // One call per block and, once the window is full, one refused call per process.
    expect(calls.n).toBeLessThanOrEqual(limit / leaseSize(limit) + limiters.length * 2);
  });

  it('a new window starts a new count', async () => {
    let now = second * 1000;
    const limiter = new RateLimiter(redis, prefix, () => now);
    expect((await takeMany([limiter], 'windows', 2, 5)).ok).toBe(2);
    now += 1000;
    expect((await takeMany([limiter], 'windows', 2, 5)).ok).toBe(2);
  });

  it('lets requests through while Redis is unreachable', async () => {
    const down = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    const limiter = new RateLimiter(down, prefix, clock);
    const { ok } = await takeMany([limiter], 'down', 1, 5);
    expect(ok).toBe(5);
    down.disconnect();
  });

  it('leaseSize: one request under 100 per second, a fiftieth of the limit above', () => {
    expect(leaseSize(1)).toBe(1);
    expect(leaseSize(99)).toBe(1);
    expect(leaseSize(1_000)).toBe(20);
    expect(leaseSize(1_000_000)).toBe(20_000);
  });
});

/** Counts the lease script's calls on this connection (the command ioredis defined on it). */
function countLeaseCalls(redis: Redis): { n: number } {
  const counter = { n: 0 };
  const r = redis as Redis & { retraceRateLease: (...args: unknown[]) => Promise<number> };
  const original = r.retraceRateLease.bind(r);
  r.retraceRateLease = (...args: unknown[]) => {
    counter.n++;
    return original(...args);
  };
  return counter;
}
