import type { Redis } from 'ioredis';

/**
 * INCR, and EXPIRE on the window's first request, as one atomic script: one command per request
 * instead of MULTI/INCR/EXPIRE/EXEC (this runs on every ingest request).
 */
const TAKE_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], 2) end
return n`;

type WithTake = Redis & { retraceRateTake(key: string): Promise<number> };

/**
 * Per-platform fixed one-second windows counted in Redis, so the limit holds across every API
 * process behind the load balancer. If Redis is unreachable the limiter lets requests through:
 * refusing data because a counter is away would lose records, which is worse than a burst.
 */
export class RateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    // ioredis sends it by SHA and loads it again if Redis lost it (a restart).
    if (!('retraceRateTake' in redis))
      redis.defineCommand('retraceRateTake', { numberOfKeys: 1, lua: TAKE_SCRIPT });
  }

  async take(
    platform: string,
    limitPerSecond: number,
  ): Promise<{ ok: true } | { ok: false; retryAfterSeconds: number }> {
    const second = Math.floor(Date.now() / 1000);
    const key = `${this.prefix}:ratelimit:{${platform}}:${second}`;
    try {
      const count = Number(await (this.redis as WithTake).retraceRateTake(key));
      return count > limitPerSecond ? { ok: false, retryAfterSeconds: 1 } : { ok: true };
    } catch {
      return { ok: true };
    }
  }
}
