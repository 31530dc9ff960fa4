import type { Redis } from 'ioredis';

/**
 * Takes up to ARGV[1] requests from the window's count in one atomic step, never letting the
 * count pass the limit (ARGV[2]), and answers how many were granted (0 when the window is full).
 * The key expires with its window; INCRBY returns the increment itself on the window's first call.
 */
const LEASE_SCRIPT = `
local want = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local n = redis.call('INCRBY', KEYS[1], want)
if n == want then redis.call('EXPIRE', KEYS[1], 2) end
local over = n - limit
if over <= 0 then return want end
if over >= want then return 0 end
return want - over`;

type WithLease = Redis & { retraceRateLease(key: string, want: number, limit: number): Promise<number> };

/**
 * How many requests one Redis call reserves for this process: a fiftieth of the limit, so that a
 * platform sending at its limit costs one Redis call per 50 requests rather than one per request,
 * while what one process can hold unused at the end of a window stays small (2% of the limit).
 * Limits under 100 per second lease one request at a time: the count is then exact.
 */
export function leaseSize(limitPerSecond: number): number {
  return Math.max(1, Math.floor(limitPerSecond / 50));
}

interface Window {
  second: number;
  /** Requests leased from Redis for this window and not used yet. */
  available: number;
  /** The window's count reached the limit: refuse without asking Redis again. */
  full: boolean;
  /** Redis was unreachable: let this window's requests through (see below). */
  open: boolean;
  /** The lease call in progress, shared by every request that waits for it. */
  leasing: Promise<void> | null;
}

/**
 * Per-platform fixed one-second windows counted in Redis, so that the limit holds across every
 * API process behind the load balancer. Each process leases requests in small blocks
 * ({@link leaseSize}) and hands them out locally: the count in Redis never passes the limit, and
 * requests a process leased but did not use in its window expire with it (so with N processes a
 * platform may be refused up to N × 2% of its limit early, never let past it). If Redis is
 * unreachable the limiter lets requests through: refusing data because a counter is away would
 * lose records, which is worse than a burst.
 */
export class RateLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly clock: () => number = Date.now,
  ) {
    // ioredis sends it by SHA and loads it again if Redis lost it (a restart).
    if (!('retraceRateLease' in redis))
      redis.defineCommand('retraceRateLease', { numberOfKeys: 1, lua: LEASE_SCRIPT });
  }

  async take(
    platform: string,
    limitPerSecond: number,
  ): Promise<{ ok: true } | { ok: false; retryAfterSeconds: number }> {
    for (;;) {
      const w = this.window(platform);
      if (w.open) return { ok: true };
      if (w.available > 0) {
        w.available--;
        return { ok: true };
      }
      if (w.full) return { ok: false, retryAfterSeconds: 1 };
      w.leasing ??= this.lease(platform, w, limitPerSecond);
      await w.leasing;
      // Then look again: the lease may have been used up by those waiting with us, or the
      // window may have passed while Redis answered.
    }
  }

  private window(platform: string): Window {
    const second = Math.floor(this.clock() / 1000);
    const current = this.windows.get(platform);
    if (current?.second === second) return current;
    const w: Window = { second, available: 0, full: false, open: false, leasing: null };
    this.windows.set(platform, w);
    return w;
  }

  private async lease(platform: string, w: Window, limitPerSecond: number): Promise<void> {
    const want = leaseSize(limitPerSecond);
    const key = `${this.prefix}:ratelimit:{${platform}}:${w.second}`;
    try {
      const granted = Number(await (this.redis as WithLease).retraceRateLease(key, want, limitPerSecond));
      w.available += granted;
      if (granted < want) w.full = true;
    } catch {
      w.open = true;
    } finally {
      w.leasing = null;
    }
  }
}
