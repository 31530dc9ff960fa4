import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config';
import { migrate } from '../../src/db/migrator';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

describe('configuration', () => {
  it('a URL the drivers cannot parse (a port that is not a number) is reported with its variable', () => {
    const problems = (() => {
      try {
        loadConfig({
          DATABASE_URL: 'postgres://postgres@127.0.0.1:notaport/retrace',
          REDIS_URL: 'redis://127.0.0.1:notaport',
          RETRACE_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
        });
      } catch (err) {
        return (err as ConfigError).problems.join('\n');
      }
      return '';
    })();
    expect(problems).toMatch(/DATABASE_URL must be a postgres:\/\/ URL/);
    expect(problems).toMatch(/REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/);
  });

  it('reports every problem on its own line', () => {
    try {
      loadConfig({
        DATABASE_URL: 'mysql://x',
        PORT: '99999',
        RETRACE_MASTER_KEY: 'c2hvcnQ=',
        REDIS_PREFIX: 'a b',
      });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      expect(problems).toMatch(/DATABASE_URL must be a postgres:\/\/ URL/);
      expect(problems).toMatch(/REDIS_URL is required/);
      expect(problems).toMatch(/PORT must be a whole number from 1 to 65535/);
      expect(problems).toMatch(/RETRACE_MASTER_KEY must be base64 of at least 32 bytes/);
      expect(problems).toMatch(/REDIS_PREFIX/);
    }
  });

  it('requires a master key unless NODE_ENV=development', () => {
    const base = { DATABASE_URL: 'postgres://u@h/db', REDIS_URL: 'redis://h:6379' };
    expect(() => loadConfig(base)).toThrow(/RETRACE_MASTER_KEY is required/);
    expect(loadConfig({ ...base, NODE_ENV: 'development' }).masterKey).toBeNull();
    expect(loadConfig({ ...base, RETRACE_MASTER_KEY: Buffer.alloc(32, 1).toString('base64') }).port).toBe(
      8080,
    );
  });

  it('WORKER_QUEUES: all four by default, a subset in the pipeline’s order, anything else one clear line', () => {
    const base = { DATABASE_URL: 'postgres://u@h/db', REDIS_URL: 'redis://h:6379', NODE_ENV: 'development' };
    expect(loadConfig(base).workerQueues).toEqual(['events', 'streams', 'rules', 'reports']);
    expect(loadConfig({ ...base, WORKER_QUEUES: 'rules' }).workerQueues).toEqual(['rules']);
    expect(loadConfig({ ...base, WORKER_QUEUES: 'streams, events,streams' }).workerQueues).toEqual([
      'events',
      'streams',
    ]);
    for (const bad of ['', 'events,alerts', 'EVENTS', ',']) {
      expect(() => loadConfig({ ...base, WORKER_QUEUES: bad }), bad).toThrow(
        /WORKER_QUEUES must be a comma-separated list of events, streams, rules, reports/,
      );
    }
  });

  it('HEAP_GROWING_PERCENT: 50 by default, 0 (V8 decides) to 400, anything else one clear line', () => {
    const base = { DATABASE_URL: 'postgres://u@h/db', REDIS_URL: 'redis://h:6379', NODE_ENV: 'development' };
    expect(loadConfig(base).heapGrowingPercent).toBe(50);
    expect(loadConfig({ ...base, HEAP_GROWING_PERCENT: '0' }).heapGrowingPercent).toBe(0);
    expect(loadConfig({ ...base, HEAP_GROWING_PERCENT: '150' }).heapGrowingPercent).toBe(150);
    for (const bad of ['-1', '401', '1.5', 'lots']) {
      expect(() => loadConfig({ ...base, HEAP_GROWING_PERCENT: bad }), bad).toThrow(
        new RegExp(
          `HEAP_GROWING_PERCENT must be a whole number from 0 to 400, got "${bad.replace('.', '\\.')}"`,
        ),
      );
    }
  });

  it('the CLI exits 1 with one clear line per problem', async () => {
    const err = await run(process.execPath, ['--import', 'tsx', 'src/main.ts', 'migrate'], {
      cwd: root,
      env: { PATH: process.env.PATH, DATABASE_URL: 'nope' },
    }).catch((e: { code: number; stderr: string }) => e);
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr).toMatch(
      /configuration is not valid[\s\S]*DATABASE_URL[\s\S]*REDIS_URL is required/,
    );
  }, 30_000);
});

describe('migrations', () => {
  it('create the database when missing, and are safe to run twice and from two processes at once', async () => {
    const template = new URL(inject('templateDatabaseUrl'));
    const url = new URL(template);
    url.pathname = `/rt_${inject('runId')}_mig${process.pid}`;
    const [a, b] = await Promise.all([migrate(url.toString()), migrate(url.toString())]);
    expect(a.applied.length + b.applied.length).toBeGreaterThan(0);
    expect(Math.min(a.applied.length, b.applied.length)).toBe(0);
    const again = await migrate(url.toString());
    expect(again.applied).toEqual([]);
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    const { rows } = await client.query('SELECT count(*)::int AS n FROM schema_migrations');
    await client.end();
    expect(rows[0].n).toBe(again.already_applied);
  });

  it('the committed Kysely schema types match the migrations', async () => {
    const { stderr } = await run(process.execPath, ['--import', 'tsx', 'src/db/codegen.ts', '--check'], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: inject('templateDatabaseUrl') },
    });
    expect(stderr).toMatch(/matches the migrations/);
  }, 60_000);
});
