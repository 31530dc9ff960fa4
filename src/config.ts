import { z } from 'zod';
import { QUEUE_BASES, type QueueBase } from './queue/jobs';

/**
 * Configuration comes from the environment only (a `.env` file is loaded by the CLI entry point
 * when present). It is parsed once at start; every problem is reported on its own line so an
 * operator can fix them all in one go.
 */

/** Whether the WHATWG URL parser (which node-postgres and ioredis use) accepts it, port included. */
const parsesAsUrl = (v: string) => URL.canParse(v);

const postgresUrl = z
  .string({ error: 'is required (e.g. postgres://postgres@127.0.0.1:5432/retrace)' })
  .refine((v) => /^postgres(ql)?:\/\/[^/]+\/[^/?]+/.test(v) && parsesAsUrl(v), {
    message: 'must be a postgres:// URL that names a database (postgres://user@host:5432/retrace)',
  });

const redisUrl = z
  .string({ error: 'is required (e.g. redis://127.0.0.1:6379)' })
  .refine((v) => /^rediss?:\/\/[^/]+/.test(v) && parsesAsUrl(v), {
    message: 'must be a redis:// or rediss:// URL (redis://host:6379)',
  });

const intFromEnv = (min: number, max: number, fallback: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return fallback;
      if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
        ctx.addIssue({ code: 'custom', message: `must be a whole number from ${min} to ${max}, got "${v}"` });
        return z.NEVER;
      }
      return Number(v);
    });

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('production'),
  DATABASE_URL: postgresUrl,
  REDIS_URL: redisUrl,
  PORT: intFromEnv(1, 65535, 8080),
  RETRACE_MASTER_KEY: z.string().optional(),
  RETRACE_DATA_DIR: z.string().default('data'),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1–64 characters of letters, digits, "_", "." or "-"')
    .default('retrace'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  QUEUE_PARTITIONS: intFromEnv(1, 64, 4),
  WORKER_CONCURRENCY: intFromEnv(1, 64, 4),
  SWEEP_INTERVAL_SECONDS: intFromEnv(1, 3600, 15),
  SWEEP_MIN_AGE_SECONDS: intFromEnv(1, 86400, 30),
  PG_POOL_SIZE: intFromEnv(1, 200, 10),
  HEAP_GROWING_PERCENT: intFromEnv(0, 400, 50),
  WORKER_QUEUES: z
    .string()
    .default(QUEUE_BASES.join(','))
    .transform((v) => v.split(',').map((q) => q.trim()))
    .refine(
      (list) => list.length > 0 && list.every((q) => (QUEUE_BASES as readonly string[]).includes(q)),
      `must be a comma-separated list of ${QUEUE_BASES.join(', ')}`,
    )
    .transform((list) => QUEUE_BASES.filter((q) => list.includes(q))),
});

/**
 * The master key is checked apart from the schema so that its problem is reported together with
 * every other one (a zod refinement over the whole object would only run once the rest is valid).
 */
function masterKeyProblem(env: NodeJS.ProcessEnv): string | null {
  const key = env.RETRACE_MASTER_KEY;
  if (key === undefined || key === '') {
    return env.NODE_ENV === 'development'
      ? null
      : 'RETRACE_MASTER_KEY is required: base64 of at least 32 random bytes (e.g. `openssl rand -base64 32`); only NODE_ENV=development may run without it';
  }
  return decodeMasterKey(key) === null
    ? 'RETRACE_MASTER_KEY must be base64 of at least 32 bytes (e.g. `openssl rand -base64 32`)'
    : null;
}

export interface Config {
  nodeEnv: 'development' | 'test' | 'production';
  databaseUrl: string;
  redisUrl: string;
  port: number;
  /** Decoded master key, or null in development before the demo has generated one. */
  masterKey: Buffer | null;
  dataDir: string;
  redisPrefix: string;
  logLevel: string;
  queuePartitions: number;
  workerConcurrency: number;
  sweepIntervalSeconds: number;
  sweepMinAgeSeconds: number;
  pgPoolSize: number;
  /** The queues a `serve worker` process consumes (WORKER_QUEUES; default all). */
  workerQueues: QueueBase[];
  /**
   * How far V8 lets a server process's heap grow past what the last full collection kept, in
   * percent (HEAP_GROWING_PERCENT; 0 leaves it to V8). See `src/ops/heap.ts`.
   */
  heapGrowingPercent: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function decodeMasterKey(value: string): Buffer | null {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(value.trim())) return null;
  const key = Buffer.from(value.trim(), 'base64');
  return key.length >= 32 ? key : null;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  const keyProblem = masterKeyProblem(env);
  if (!parsed.success || keyProblem) {
    const problems = (parsed.success ? [] : parsed.error.issues).map((issue) => {
      const name = issue.path.join('.') || '(environment)';
      const message =
        issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : issue.message;
      return `${name} ${message}`;
    });
    if (keyProblem) problems.push(keyProblem);
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  return {
    nodeEnv: e.NODE_ENV,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    port: e.PORT,
    masterKey: e.RETRACE_MASTER_KEY ? decodeMasterKey(e.RETRACE_MASTER_KEY) : null,
    dataDir: e.RETRACE_DATA_DIR,
    redisPrefix: e.REDIS_PREFIX,
    logLevel: e.LOG_LEVEL,
    queuePartitions: e.QUEUE_PARTITIONS,
    workerConcurrency: e.WORKER_CONCURRENCY,
    sweepIntervalSeconds: e.SWEEP_INTERVAL_SECONDS,
    sweepMinAgeSeconds: e.SWEEP_MIN_AGE_SECONDS,
    pgPoolSize: e.PG_POOL_SIZE,
    workerQueues: e.WORKER_QUEUES,
    heapGrowingPercent: e.HEAP_GROWING_PERCENT,
  };
}
