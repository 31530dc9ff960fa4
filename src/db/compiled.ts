import { type Compilable, CompiledQuery } from 'kysely';
import type { Db } from './database';

/**
 * A statement of fixed shape, built and compiled by kysely once per database handle and then run
 * with each call's parameters. Building and compiling a select with joins costs 10–100 µs of CPU
 * per call; the officers' query API runs several such statements per request, always the same
 * ones with other values.
 *
 * `build` receives one stand-in per parameter and must use each only as a value (`eb('t.id',
 * '=', id)`, never in a list or to choose the query's shape): every stand-in found among the
 * compiled statement's parameters is replaced by the call's argument, every other parameter (a
 * constant of the query) is kept. test/api/compiled-queries.test.ts checks each such statement
 * against building it per call.
 */
export function compiledQuery<A extends unknown[], R>(
  build: (db: Db, ...args: A) => Compilable<R>,
): (db: Db, ...args: A) => Promise<R[]> {
  const byDb = new WeakMap<Db, { sql: string; slots: readonly ({ arg: number } | { value: unknown })[] }>();
  const compile = (db: Db, arity: number) => {
    const standIns = Array.from({ length: arity }, (_, i) => ({ standIn: i }));
    const q = build(db, ...(standIns as unknown as A)).compile();
    const slots = q.parameters.map((p) => {
      const arg = standIns.indexOf(p as { standIn: number });
      return arg >= 0 ? { arg } : { value: p };
    });
    for (let i = 0; i < arity; i++) {
      if (!slots.some((s) => 'arg' in s && s.arg === i))
        throw new Error(`compiledQuery: parameter ${i} is not used as a value`);
    }
    return { sql: q.sql, slots };
  };
  return async (db, ...args) => {
    let c = byDb.get(db);
    if (!c) {
      c = compile(db, args.length);
      byDb.set(db, c);
    }
    const parameters = c.slots.map((s) => ('arg' in s ? args[s.arg] : s.value));
    return (await db.executeQuery<R>(CompiledQuery.raw(c.sql, parameters))).rows;
  };
}

/** The row type a compiled select returns. */
export type CompiledRow<Q> = Q extends (...args: never[]) => Promise<(infer R)[]> ? R : never;
