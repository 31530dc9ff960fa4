import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { arrayLiteral } from '../../src/db/array-literal';
import { selectFromUnnest } from '../../src/processing/bulk';
import { createTestContext, type TestContext } from '../support/context';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => ctx.close());

// Any text PostgreSQL stores (no NUL): quotes, backslashes, braces, commas, spaces, "NULL".
const text = fc.oneof(
  fc.string({ unit: 'binary' }).map((s) => s.replaceAll('\u0000', '')),
  fc.constantFrom('', 'NULL', 'null', ' a ', '{', '}', ',', '"', '\\', '\\"', '{"a":1}', '回收站'),
);

it('array literals carry any text, number, time and bytes exactly', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.option(text), { maxLength: 20 }),
      fc.array(fc.option(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })), { maxLength: 20 }),
      fc.array(fc.option(fc.date({ noInvalidDate: true, min: new Date(0), max: new Date(4e12) })), {
        maxLength: 20,
      }),
      fc.array(fc.option(fc.uint8Array({ maxLength: 40 })), { maxLength: 20 }),
      async (texts, ints, dates, bytes) => {
        const buffers = bytes.map((b) => (b === null ? null : Buffer.from(b)));
        const { rows } = await sql<{ t: (string | null)[]; n: (bigint | null)[]; d: string; b: string }>`
          SELECT ${arrayLiteral(texts)}::text[] AS t, ${arrayLiteral(ints)}::int8[] AS n,
                 to_json(${arrayLiteral(dates)}::timestamptz[])::text AS d,
                 to_json(ARRAY(SELECT encode(x, 'hex') FROM unnest(${arrayLiteral(buffers)}::bytea[]) AS x))::text AS b`.execute(
          ctx.rt.db,
        );
        const r = rows[0]!;
        expect(r.t).toEqual(texts);
        expect(r.n).toEqual(ints);
        expect(
          (JSON.parse(r.d) as (string | null)[]).map((x) => (x === null ? null : Date.parse(x))),
        ).toEqual(dates.map((x) => (x === null ? null : x.getTime())));
        expect(JSON.parse(r.b)).toEqual(buffers.map((x) => (x === null ? null : x.toString('hex'))));
      },
    ),
    { numRuns: 60 },
  );
});

it('jsonb and text[] columns keep their values and their order', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.jsonValue(), fc.array(text, { maxLength: 4 }), fc.option(text)), {
        minLength: 1,
        maxLength: 30,
      }),
      async (rows) => {
        const r = await sql<{ j: unknown; a: string[]; t: string | null }>`${selectFromUnnest([
          { name: 'j', type: 'jsonb', values: rows.map(([j]) => JSON.stringify(j)) },
          { name: 'a', type: 'text[]', values: rows.map(([, a]) => a) },
          { name: 't', type: 'text', values: rows.map(([, , t]) => t) },
        ])}`.execute(ctx.rt.db);
        expect(r.rows.map((x) => [x.j, x.a, x.t])).toEqual(
          // jsonb normalises -0 to 0, as JSON.parse of its text does.
          rows.map(([j, a, t]) => [JSON.parse(JSON.stringify(j)), a, t]),
        );
      },
    ),
    { numRuns: 60 },
  );
});
