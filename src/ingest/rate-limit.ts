import type { Redis } from 'ioredis';

/**
 * Per-platform fixed one-second windows counted in Redis, so the limit holds across every API
 * process behind the load balancer. If Redis is unreachable the limiter lets requests through:
 * refusing data because a counter is away would lose records, which is worse than a burst.
 */
export class RateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async take(
    platform: string,
    limitPerSecond: number,
  ): Promise<{ ok: true } | { ok: false; retryAfterSeconds: number }> {
    const second = Math.floor(Date.now() / 1000);
    const key = `${this.prefix}:ratelimit:{${platform}}:${second}`;
    try {
      const res = await this.redis.multi().incr(key).expire(key, 2).exec();
      const count = Number(res?.[0]?.[1] ?? 0);
      return count > limitPerSecond ? { ok: false, retryAfterSeconds: 1 } : { ok: true };
    } catch {
      return { ok: true };
    }
  }
}
