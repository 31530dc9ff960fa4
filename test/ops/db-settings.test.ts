import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { autovacuumEnabled } from '../../src/db/maintenance';
import { createTestContext, type TestContext } from '../support/context';

describe('database session settings', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext();
  });
  afterAll(async () => {
    await ctx.close();
  });

  it('pooled connections run without JIT compilation', async () => {
    const r = await sql<{ jit: string }>`SHOW jit`.execute(ctx.rt.db);
    expect(r.rows[0]!.jit).toBe('off');
  });

  it('autovacuumEnabled reads the server setting', async () => {
    const r = await sql<{ autovacuum: string }>`SHOW autovacuum`.execute(ctx.rt.db);
    expect(await autovacuumEnabled(ctx.rt.db)).toBe(r.rows[0]!.autovacuum === 'on');
  });
});
