import { type RawBuilder, sql } from 'kysely';
import { arrayLiteral } from '../db/array-literal';
import type { Db } from '../db/database';

/**
 * Transaction-scoped advisory locks on string keys, taken in one sorted pass. Every code path
 * takes its locks of one namespace in ascending order, and namespaces in a fixed order
 * (records, then trades' flows), so two workers can never wait on each other in a cycle.
 */
export async function lockKeys(
  db: Db,
  namespace: string,
  keys: Iterable<string>,
  opts: { after?: RawBuilder<unknown> } = {},
): Promise<void> {
  const unique = [...new Set(keys)].map((k) => `${namespace}:${k}`).sort();
  if (unique.length === 0) {
    await opts.after?.execute(db);
    return;
  }
  // hashtextextended gives a 64-bit lock id; collisions only serialise unrelated keys.
  const lock = sql`SELECT pg_advisory_xact_lock(h) FROM (
      SELECT hashtextextended(k, 0) AS h FROM unnest(${arrayLiteral(unique)}::text[]) AS k ORDER BY 1) AS s`;
  if (!opts.after) {
    await lock.execute(db);
    return;
  }
  // `after` (an insert ending in RETURNING) runs first, in the same statement: the scalar
  // subquery over it is computed before the first lock is taken. Nothing it writes may need the
  // locks — only what is read after them, in later statements (a statement's snapshot is taken
  // before it waits for a lock, so reads in the same statement could miss the lock holder's rows).
  await sql`WITH w AS (${opts.after}) ${lock} WHERE (SELECT count(*) FROM w) >= 0`.execute(db);
}
