import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrate } from '../src/db/migrator';

/**
 * One run = one migrated template database and one Redis key prefix. Each test file clones the
 * template (CREATE DATABASE … TEMPLATE, milliseconds) and takes a sub-prefix, so files run in
 * parallel without seeing each other's data, and two runs on one machine never collide.
 */
declare module 'vitest' {
  export interface ProvidedContext {
    templateDatabaseUrl: string;
    runId: string;
    redisUrl: string;
  }
}

const baseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/retrace';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function adminQuery(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: withDatabase(baseUrl, 'postgres') });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}

export default async function setup(project: TestProject) {
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const template = `rt_${runId}_tpl`;
  const templateUrl = withDatabase(baseUrl, template);
  await migrate(templateUrl);
  project.provide('templateDatabaseUrl', templateUrl);
  project.provide('runId', runId);
  project.provide('redisUrl', redisUrl);

  return async () => {
    const { rows } = await adminQuery('SELECT datname FROM pg_database WHERE datname LIKE $1', [
      `rt\\_${runId}\\_%`,
    ]);
    for (const r of rows)
      await adminQuery(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(r.datname)} WITH (FORCE)`);
    const redis = new Redis(redisUrl);
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `rt-${runId}-*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
  };
}
