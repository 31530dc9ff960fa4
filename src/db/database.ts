import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { DB } from './schema';

export type { DB };
export type Db = Kysely<DB>;

let parsersSet = false;

/**
 * No money or quantity ever passes through a JS `number`: int8 becomes bigint and numeric stays
 * a decimal string. Set once per process, before the first query.
 */
export function setTypeParsers(): void {
  if (parsersSet) return;
  pg.types.setTypeParser(pg.types.builtins.INT8, (v) => BigInt(v));
  pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => v);
  // Calendar dates stay 'YYYY-MM-DD': a JS Date would shift them by the process time zone.
  pg.types.setTypeParser(pg.types.builtins.DATE, (v) => v);
  // int8[] arrives as '{1,2,NULL}': integers only, no quoting to handle.
  pg.types.setTypeParser(1016 as Parameters<typeof pg.types.setTypeParser>[0], (v: string) =>
    v === '{}'
      ? []
      : v
          .slice(1, -1)
          .split(',')
          .map((x) => (x === 'NULL' ? null : BigInt(x))),
  );
  parsersSet = true;
}

export interface DbOptions {
  url: string;
  poolSize?: number;
  applicationName?: string;
}

export function createPool(opts: DbOptions): pg.Pool {
  setTypeParsers();
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolSize ?? 10,
    application_name: opts.applicationName ?? 'retrace',
    // No JIT compilation: every statement here is short (index lookups, batches of a few thousand
    // rows), and where the planner's estimate passes jit_above_cost, compiling takes longer than
    // the query (a chain walk's p95 went from 26 to 22 ms at 1,000,000 trades). Settings given in
    // PGOPTIONS still apply, before this one.
    options: [process.env.PGOPTIONS, '-c jit=off'].filter(Boolean).join(' '),
    // Under load a job may wait its turn for a pooled connection; a dead server still fails
    // within this time.
    connectionTimeoutMillis: 15_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection must not crash the process; the next checkout reconnects.
  pool.on('error', () => {});
  // A checked-out client whose socket closes emits 'error' with only the pool's idle listener
  // removed: without one of its own that would crash the process. The running query still fails
  // (and the client is discarded on release), so nothing is hidden by listening here.
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

const poolSizes = new WeakMap<Db, number>();

export function createDb(pool: pg.Pool): Db {
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  poolSizes.set(db, pool.options.max);
  return db;
}

/** How many connections the pool behind `db` may open (undefined for a Db not made by createDb). */
export function poolSizeOf(db: Db): number | undefined {
  return poolSizes.get(db);
}

/** SQLSTATE classes that mean "the database is not there right now", not "your input is wrong". */
export function isUnavailableError(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  if (!e) return false;
  if (typeof e.code === 'string') {
    if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', 'EHOSTUNREACH'].includes(e.code))
      return true;
    // 08: connection exception, 53: insufficient resources, 57P: operator intervention (shutdown).
    if (/^(08|53|57P)/.test(e.code)) return true;
  }
  return /timeout exceeded when trying to connect|Connection terminated|connection timeout/i.test(
    e.message ?? '',
  );
}
