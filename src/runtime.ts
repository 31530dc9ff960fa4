import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { type Config, decodeMasterKey } from './config';
import { createDb, createPool, type Db } from './db/database';
import { createLogger, type Logger } from './log';
import { createMetrics, type Metrics } from './ops/metrics';
import { EventQueues } from './queue/producer';
import { createRedis } from './queue/redis';
import { Keyring } from './security/keys';

export interface Runtime {
  config: Config;
  log: Logger;
  pool: pg.Pool;
  db: Db;
  keyring: Keyring;
  metrics: Metrics;
  queues: EventQueues;
  close: () => Promise<void>;
}

/**
 * In development only, a missing RETRACE_MASTER_KEY is generated once and kept in the (git-ignored)
 * data folder, so the demo works right after clone. Everywhere else it must be configured.
 */
export function resolveMasterKey(config: Config, log?: Logger): Buffer {
  if (config.masterKey) return config.masterKey;
  if (config.nodeEnv !== 'development') throw new Error('RETRACE_MASTER_KEY is required');
  const file = path.resolve(config.dataDir, 'master.key');
  if (existsSync(file)) {
    const key = decodeMasterKey(readFileSync(file, 'utf8'));
    if (!key) throw new Error(`${file} does not hold a valid master key (base64 of ≥ 32 bytes)`);
    return key;
  }
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  log?.warn({ file }, 'generated a development master key; set RETRACE_MASTER_KEY in production');
  return decodeMasterKey(readFileSync(file, 'utf8'))!;
}

export function createRuntime(config: Config, role: string): Runtime {
  const log = createLogger(config.logLevel, { role });
  const pool = createPool({
    url: config.databaseUrl,
    poolSize: config.pgPoolSize,
    applicationName: `retrace-${role}`,
  });
  const db = createDb(pool);
  const keyring = new Keyring(resolveMasterKey(config, log));
  const metrics = createMetrics(role);
  const queues = new EventQueues(
    createRedis(config.redisUrl, 'producer'),
    config.redisPrefix,
    config.queuePartitions,
  );
  return {
    config,
    log,
    pool,
    db,
    keyring,
    metrics,
    queues,
    close: async () => {
      await queues.close();
      queues.redis.disconnect();
      await db.destroy();
    },
  };
}
