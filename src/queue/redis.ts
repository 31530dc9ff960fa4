import { Redis, type RedisOptions } from 'ioredis';

/**
 * Connections for the two sides of a queue. Producers on the HTTP path must fail fast when Redis
 * is away (the event is already durable in PostgreSQL, the sweep hands it over later); workers
 * block on Redis and must retry forever, as BullMQ requires.
 */
export function createRedis(url: string, role: 'producer' | 'worker' | 'client'): Redis {
  const base: RedisOptions = {
    lazyConnect: false,
    connectTimeout: 2_000,
    // Reconnect with a capped back-off; never give up (the process would need a restart).
    retryStrategy: (times) => Math.min(200 * times, 2_000),
  };
  const opts: RedisOptions =
    role === 'worker'
      ? { ...base, maxRetriesPerRequest: null }
      : { ...base, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 1_000 };
  const redis = new Redis(url, opts);
  // Connection errors are reported by readiness checks and failed commands, not as crashes.
  redis.on('error', () => {});
  return redis;
}
