import {
  type CompiledQuery,
  type DatabaseConnection,
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryResult,
  sql,
} from 'kysely';
import { describe, expect, it } from 'vitest';
import { compiledQuery } from '../../src/db/compiled';
import type { DB, Db } from '../../src/db/database';

/** A Kysely for PostgreSQL that records what it is asked to run instead of running it. */
function recordingDb(): { db: Db; sent: { sql: string; parameters: readonly unknown[] }[] } {
  const sent: { sql: string; parameters: readonly unknown[] }[] = [];
  const connection: DatabaseConnection = {
    async executeQuery<R>(q: CompiledQuery): Promise<QueryResult<R>> {
      sent.push({ sql: q.sql, parameters: q.parameters });
      return { rows: [] };
    },
    async *streamQuery() {},
  };
  class RecordingDriver extends DummyDriver {
    override async acquireConnection(): Promise<DatabaseConnection> {
      return connection;
    }
  }
  const db = new Kysely<DB>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new RecordingDriver(),
      createIntrospector: (k) => new PostgresIntrospector(k),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
  });
  return { db, sent };
}

describe('compiledQuery', () => {
  const build = (db: Db, key: string, since: Date, probe: string) =>
    db
      .selectFrom('trades as t')
      .select(['t.id', 't.trade_id'])
      .where((eb) => eb.or([eb('t.seller_key', '=', key), eb('t.buyer_key', '=', key)]))
      .where('t.status', '=', 'active')
      .where('t.occurred_at', '>=', since)
      .where('t.materials', '@>', sql<string[]>`${probe}::text[]`)
      .orderBy('t.id')
      .limit(50);
  const run = compiledQuery(build);

  it('sends what building the query for each call would send, constants kept', async () => {
    const { db, sent } = recordingDb();
    const calls: [string, Date, string][] = [
      ['91440703MA0000000H', new Date('2026-09-01T00:00:00Z'), '{FE_HEAVY}'],
      ['np_abc', new Date('2026-10-01T00:00:00Z'), '{CU}'],
      ['91440703MA0000000H', new Date('2026-11-01T00:00:00Z'), '{}'],
    ];
    for (const args of calls) await run(db, ...args);
    expect(sent).toHaveLength(calls.length);
    calls.forEach((args, i) => {
      const expected = build(db, ...args).compile();
      expect(sent[i]!.sql).toBe(expected.sql);
      expect(sent[i]!.parameters).toEqual(expected.parameters);
    });
  });

  it('refuses a parameter that does not end up as a value', async () => {
    const { db } = recordingDb();
    const unused = compiledQuery((d: Db, _ignored: string) => d.selectFrom('trades').select('id'));
    await expect(unused(db, 'x')).rejects.toThrow(/parameter 0/);
  });
});
