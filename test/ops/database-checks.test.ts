import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, createPool } from '../../src/db/database';
import { ensureDatabase } from '../../src/db/migrator';
import { databaseProblems } from '../../src/ops/database-checks';
import { Keyring } from '../../src/security/keys';
import { createTestContext, type TestContext } from '../support/context';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => ctx.close());

describe('checks before a process serves', () => {
  it('a database whose platform secrets the configured key does not open is refused, naming the variable', async () => {
    expect(await databaseProblems(ctx.rt.db, ctx.rt.keyring)).toEqual([]); // no platform yet: any key
    await ctx.addPlatform();
    expect(await databaseProblems(ctx.rt.db, ctx.rt.keyring)).toEqual([]);
    const other = new Keyring(randomBytes(32));
    const [problem, ...rest] = await databaseProblems(ctx.rt.db, other);
    expect(rest).toEqual([]);
    expect(problem).toMatch(/^RETRACE_MASTER_KEY is not the key this database was set up with/);
  });

  it('a database that is not migrated is refused; `serve api` says so at start and exits 1', async () => {
    const url = new URL(ctx.databaseUrl);
    url.pathname = `${url.pathname}_empty`;
    await ensureDatabase(url.toString());
    const db = createDb(createPool({ url: url.toString(), poolSize: 1 }));
    try {
      const [problem] = await databaseProblems(db, ctx.rt.keyring);
      expect(problem).toMatch(
        /^DATABASE_URL names a database that is not migrated .*run `retrace migrate` first$/,
      );
      const run = await promisify(execFile)(
        process.execPath,
        ['--import', 'tsx', 'src/main.ts', 'serve', 'api'],
        {
          env: {
            ...process.env,
            NODE_ENV: 'test',
            DATABASE_URL: url.toString(),
            REDIS_URL: 'redis://127.0.0.1:6379',
            RETRACE_MASTER_KEY: randomBytes(32).toString('base64'),
            PORT: '1',
          },
        },
      ).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => err,
      );
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/DATABASE_URL names a database that is not migrated/);
    } finally {
      await db.destroy();
      const admin = new URL(ctx.databaseUrl);
      admin.pathname = '/postgres';
      const client = new pg.Client({ connectionString: admin.toString() });
      await client.connect();
      await client.query(
        `DROP DATABASE IF EXISTS ${pg.escapeIdentifier(url.pathname.slice(1))} WITH (FORCE)`,
      );
      await client.end();
    }
  }, 30_000);
});
