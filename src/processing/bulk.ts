import { type RawBuilder, sql } from 'kysely';
import { arrayLiteral } from '../db/array-literal';

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
 * CONFLICT clause, or a RETURNING). Raw SQL because the builder writes multi-row inserts as VALUES
 * lists with one parameter per cell: for 500 rows of 20 columns PostgreSQL parses and plans 10,000
 * parameters on every call, which cost two to three times the insert itself; unnest takes one
 * array per column. Table, column and type names are constants of the callers, never input.
 */
export function insertFromUnnest(
  table: string,
  columns: readonly BulkColumn[],
  tail: string,
): RawBuilder<unknown> {
  return sql`INSERT INTO ${sql.raw(table)} (${sql.raw(columns.map((c) => c.name).join(', '))}) ${selectFromUnnest(columns)} ${sql.raw(tail)}`;
}

/**
 * One JSON array of a jsonb (or `text[]`) column's values, unnested in order. A jsonb value is
 * already JSON text, so the array is the values joined: no escaping for an array literal, which
 * for JSON (every key quoted) cost more than all the other columns together.
 */
function jsonColumn(c: BulkColumn): RawBuilder<unknown> | null {
  let json: string;
  if (c.type === 'text[]') json = JSON.stringify(c.values);
  else if (c.type === 'jsonb' && c.values.every((v) => typeof v === 'string'))
    json = `[${(c.values as string[]).join(',')}]`;
  else return null;
  return sql`ARRAY(SELECT e FROM jsonb_array_elements(${json}::jsonb) WITH ORDINALITY AS x(e, i) ORDER BY i)`;
}

/** `SELECT … FROM unnest(…) AS u(columns)`: the rows of `columns`, for an INSERT or a CTE. */
export function selectFromUnnest(columns: readonly BulkColumn[]): RawBuilder<unknown> {
  const names = sql.raw(columns.map((c) => c.name).join(', '));
  const params = sql.join(
    columns.map(
      (c) =>
        jsonColumn(c) ??
        (c.type === 'text[]'
          ? sql`${arrayLiteral(c.values.map((v) => JSON.stringify(v)))}::jsonb[]`
          : sql`${arrayLiteral(c.values)}::${sql.raw(c.type)}[]`),
    ),
  );
  const exprs = sql.raw(
    columns
      .map((c) =>
        c.type === 'text[]'
          ? `ARRAY(SELECT jsonb_array_elements_text(u.${c.name})) AS ${c.name}`
          : `u.${c.name}`,
      )
      .join(', '),
  );
  return sql`SELECT ${exprs} FROM unnest(${params}) AS u(${names})`;
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
