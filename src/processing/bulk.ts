import { type RawBuilder, sql } from 'kysely';

/**
 * One column of a set of rows, sent as one array parameter. `type` is the column's SQL type; an
 * array-typed column (`text[]`) travels as one JSON array per row, since unnest cannot carry
 * ragged nested arrays.
 */
export interface BulkColumn {
  name: string;
  type: 'text' | 'int' | 'bigint' | 'numeric' | 'timestamptz' | 'jsonb' | 'bytea' | 'text[]';
  values: readonly unknown[];
}

/**
 * `INSERT INTO table (columns) SELECT … FROM unnest($1::type[], …)` followed by `tail` (an ON
 * CONFLICT clause). Raw SQL because the builder writes multi-row inserts as VALUES lists with one
 * parameter per cell: for 500 rows of 20 columns PostgreSQL parses and plans 10,000 parameters on
 * every call, which cost two to three times the insert itself; unnest takes one array per column.
 * Table, column and type names are constants of the callers, never input.
 */
export function insertFromUnnest(
  table: string,
  columns: readonly BulkColumn[],
  tail: string,
): RawBuilder<unknown> {
  const names = sql.raw(columns.map((c) => c.name).join(', '));
  const params = sql.join(
    columns.map((c) =>
      c.type === 'text[]'
        ? sql`${c.values.map((v) => JSON.stringify(v))}::jsonb[]`
        : sql`${c.values.map((v) => (v instanceof Date ? v.toISOString() : v))}::${sql.raw(c.type)}[]`,
    ),
  );
  const exprs = sql.raw(
    columns
      .map((c) =>
        c.type === 'text[]' ? `ARRAY(SELECT jsonb_array_elements_text(u.${c.name}))` : `u.${c.name}`,
      )
      .join(', '),
  );
  return sql`INSERT INTO ${sql.raw(table)} (${names}) SELECT ${exprs} FROM unnest(${params}) AS u(${names}) ${sql.raw(tail)}`;
}

/** The columns of `rows` (objects with the same keys), typed by `types`. */
export function columnsOf<R extends Record<string, unknown>>(
  rows: readonly R[],
  types: { [K in keyof R]: BulkColumn['type'] },
): BulkColumn[] {
  return (Object.keys(types) as (keyof R & string)[]).map((name) => ({
    name,
    type: types[name],
    values: rows.map((r) => r[name]),
  }));
}
