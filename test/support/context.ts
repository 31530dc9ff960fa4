import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { type Config, loadConfig } from '../../src/config';
import type { App } from '../../src/http/app';
import { createApp } from '../../src/http/create-app';
import { IngestService } from '../../src/ingest/ingest.service';
import { insertPlatform } from '../../src/repositories/platforms.repository';
import { createRuntime, type Runtime } from '../../src/runtime';
import { generateSecret, secretBytes, sign } from '../../src/security/webhook';

let seq = 0;

/** A unique, readable id for factories: unique per process and per call. */
export function uid(prefix = 'x'): string {
  seq += 1;
  return `${prefix}${process.pid.toString(36)}${seq.toString(36)}${randomBytes(2).toString('hex')}`;
}

export interface TestContext {
  config: Config;
  rt: Runtime;
  ingest: IngestService;
  app: App;
  databaseUrl: string;
  redisPrefix: string;
  addPlatform(opts?: { code?: string; rateLimit?: number }): Promise<{ code: string; secret: string }>;
  post(
    path: string,
    body: string | Buffer,
    opts: {
      secret: string;
      id?: string;
      timestamp?: number;
      contentType?: string;
      headers?: Record<string, string>;
    },
  ): Promise<Response>;
  close(): Promise<void>;
}

/** Clones the run's template database and takes a fresh Redis prefix for one test file. */
export async function createTestContext(
  opts: {
    platformCacheTtlMs?: number;
    env?: Record<string, string>;
    /** Lets a test route the connections through a proxy it can cut. */
    urls?: (u: { databaseUrl: string; redisUrl: string }) => { databaseUrl: string; redisUrl: string };
  } = {},
): Promise<TestContext> {
  const runId = inject('runId');
  const template = new URL(inject('templateDatabaseUrl'));
  const name = `rt_${runId}_${randomBytes(4).toString('hex')}`;
  const admin = new URL(template);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(
      `CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${pg.escapeIdentifier(template.pathname.slice(1))}`,
    );
  } finally {
    await client.end();
  }
  const dbUrl = new URL(template);
  dbUrl.pathname = `/${name}`;
  const redisPrefix = `rt-${runId}-${randomBytes(4).toString('hex')}`;
  const urls = (opts.urls ?? ((u) => u))({ databaseUrl: dbUrl.toString(), redisUrl: inject('redisUrl') });
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: urls.databaseUrl,
    REDIS_URL: urls.redisUrl,
    REDIS_PREFIX: redisPrefix,
    RETRACE_MASTER_KEY: randomBytes(32).toString('base64'),
    LOG_LEVEL: 'silent',
    QUEUE_PARTITIONS: '2',
    ...opts.env,
  });
  const rt = createRuntime(config, 'test');
  const ingest = new IngestService({
    db: rt.db,
    queues: rt.queues,
    redis: rt.queues.redis,
    redisPrefix,
    keyring: rt.keyring,
    metrics: rt.metrics,
    log: rt.log,
    platformCacheTtlMs: opts.platformCacheTtlMs ?? 0,
  });
  const app = createApp({
    db: rt.db,
    queues: rt.queues,
    ingest,
    metrics: rt.metrics,
    log: rt.log,
    keyring: rt.keyring,
    redisPrefix,
  });

  return {
    config,
    rt,
    ingest,
    app,
    databaseUrl: dbUrl.toString(),
    redisPrefix,
    async addPlatform(o = {}) {
      const code = o.code ?? uid('p').toLowerCase();
      const secret = generateSecret();
      await insertPlatform(rt.db, {
        code,
        name: `Platform ${code}`,
        rateLimitPerSecond: o.rateLimit,
        secretEnc: rt.keyring.encrypt('platform-secrets', secret),
      });
      return { code, secret };
    },
    async post(path, body, o) {
      const id = o.id ?? uid('msg_');
      const ts = o.timestamp ?? Math.floor(Date.now() / 1000);
      const raw = typeof body === 'string' ? Buffer.from(body) : body;
      return app.request(path, {
        method: 'POST',
        body: raw,
        headers: {
          'content-type': o.contentType ?? 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(ts),
          'webhook-signature': sign(secretBytes(o.secret), id, ts, raw),
          ...o.headers,
        },
      });
    },
    async close() {
      await ingest.close();
      await rt.close();
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: tests walk arbitrary response JSON with expect().
export type AnyJson = any;

/** The response body as JSON, typed loosely for assertions. */
export async function json(res: Response): Promise<AnyJson> {
  return res.json();
}
