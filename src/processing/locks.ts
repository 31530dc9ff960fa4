import { sql } from 'kysely';
import type { Db } from '../db/database';

/**
 * Transaction-scoped advisory locks on string keys, taken in one sorted pass. Every code path
 * takes its locks of one namespace in ascending order, and namespaces in a fixed order
 * (records, then trades' flows), so two workers can never wait on each other in a cycle.
 */
export async function lockKeys(db: Db, namespace: string, keys: Iterable<string>): Promise<void> {
  const unique = [...new Set(keys)].map((k) => `${namespace}:${k}`).sort();
  if (unique.length === 0) return;
  // hashtextextended gives a 64-bit lock id; collisions only serialise unrelated keys.
  await sql`SELECT pg_advisory_xact_lock(h) FROM (
      SELECT hashtextextended(k, 0) AS h FROM unnest(${unique}::text[]) AS k ORDER BY 1) AS s`.execute(db);
}
