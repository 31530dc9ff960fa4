import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, json, type TestContext, uid } from '../support/context';
import { paymentMade, tradeCreated, weighingRecorded } from '../support/factories';

let ctx: TestContext;

beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => ctx.close());

type Status = 'accepted' | 'duplicate' | 'rejected';
interface LineResult {
  line: number;
  id: string | null;
  status: Status;
  errors?: { pointer: string; message: string }[];
}

const path = (p: string) => `/v1/ingest/${p}/batches`;
const send = (p: { code: string; secret: string }, body: string | Buffer, id = uid('batch_')) =>
  ctx.post(path(p.code), body, { secret: p.secret, id, contentType: 'application/x-ndjson' });
const lineOf = (id: string, e: { type: string; timestamp: string; data: unknown }) =>
  JSON.stringify({ id, ...e });
const withTreatment = (e: ReturnType<typeof tradeCreated>, t: string) => ({
  ...e,
  data: { ...(e.data as object), tax_treatment: t },
});

async function storedLines(batchId: string) {
  const rows = await ctx.rt.db
    .selectFrom('inbound_events')
    .select(['batch_line', 'event_id', 'raw_body'])
    .where('batch_id', '=', batchId)
    .execute();
  return new Map(
    rows.map((r) => [
      r.batch_line!,
      { id: r.event_id, raw: ctx.rt.keyring.decryptBytes('event-bodies', r.raw_body).toString() },
    ]),
  );
}

async function quarantinedLines(batchId: string): Promise<number[]> {
  const rows = await ctx.rt.db
    .selectFrom('quarantined_events')
    .select('batch_line')
    .where('batch_id', '=', batchId)
    .execute();
  return rows.map((r) => r.batch_line!).sort((a, b) => a - b);
}

describe('a full 10,000-line batch with everything mixed in', () => {
  it('gives exactly the right result per line and stores exactly the valid new lines', async () => {
    const p = await ctx.addPlatform();
    // A first batch stores the events that the big batch repeats or contradicts.
    const earlier = Array.from({ length: 300 }, () => ({ id: uid('ev_'), e: tradeCreated() }));
    const first = await json(await send(p, `${earlier.map((x) => lineOf(x.id, x.e)).join('\n')}\n`));
    expect(first.accepted).toBe(300);

    const lines: string[] = [];
    const expected: { line: number; id: string | null; status: Status }[] = [];
    const good: { line: number; text: string }[] = [];
    const firstInBatch: { id: string; text: string; e: ReturnType<typeof tradeCreated> }[] = [];
    for (let i = 0; i < 10_000; i++) {
      const n = i + 1;
      const k = i % 20;
      const push = (text: string, id: string | null, status: Status) => {
        lines.push(text);
        if (status !== undefined && text.trim() !== '') expected.push({ line: n, id, status });
        if (status === 'accepted') good.push({ line: n, text });
      };
      if (k === 0 && i / 20 < earlier.length) {
        const x = earlier[i / 20]!;
        push(lineOf(x.id, x.e), x.id, 'duplicate'); // the same delivery again
      } else if (k === 1 && (i - 1) / 20 < earlier.length) {
        const x = earlier[(i - 1) / 20]!;
        const id = uid('ev_');
        push(lineOf(id, x.e), id, 'duplicate'); // the same record version under a new id
      } else if (k === 2 && (i - 2) / 20 < earlier.length) {
        const x = earlier[(i - 2) / 20]!;
        const id = uid('ev_');
        push(lineOf(id, withTreatment(x.e, 'general_13')), id, 'rejected'); // conflicting content
      } else if (k === 3 && (i - 3) / 20 < earlier.length) {
        const x = earlier[(i - 3) / 20]!;
        push(lineOf(x.id, tradeCreated()), x.id, 'rejected'); // a stored id reused for other content
      } else if (k === 4) {
        push(`{"id": "broken-${i}", `, null, 'rejected');
      } else if (k === 5) {
        push(JSON.stringify(tradeCreated()), null, 'rejected'); // no id
      } else if (k === 6) {
        const bad = tradeCreated();
        (bad.data as { total_amount: string }).total_amount = '1.00';
        const id = uid('ev_');
        push(lineOf(id, bad), id, 'rejected');
      } else if (k === 7) {
        lines.push(i % 40 === 7 ? '' : '   \t'); // blank lines: skipped, not counted as records
      } else if (k === 8 && firstInBatch.length > 0) {
        const x = firstInBatch[firstInBatch.length - 1]!;
        push(x.text, x.id, 'duplicate'); // a line repeated inside the batch
      } else if (k === 9 && firstInBatch.length > 0) {
        const x = firstInBatch[firstInBatch.length - 1]!;
        const id = uid('ev_');
        push(lineOf(id, withTreatment(x.e, 'general_13')), id, 'rejected'); // conflicts with a line above
      } else {
        const id = uid('ev_');
        const e = k % 3 === 0 ? tradeCreated() : k % 3 === 1 ? paymentMade() : weighingRecorded();
        // Some lines end with CRLF and carry multi-byte characters; the stored bytes exclude the CR.
        const text = lineOf(id, e);
        push(k === 10 ? `${text}\r` : text, id, 'accepted');
        if (k === 10) good[good.length - 1]!.text = text;
        if (e.type === 'trade.created')
          firstInBatch.push({ id, text, e: e as ReturnType<typeof tradeCreated> });
      }
    }
    const batchId = uid('batch_');
    const res = await send(p, `${lines.join('\n')}\n`, batchId);
    expect(res.status).toBe(200);
    const out = await json(res);
    const results = out.results as LineResult[];
    expect(results.map((r) => ({ line: r.line, id: r.id, status: r.status }))).toEqual(expected);
    const count = (s: Status) => expected.filter((x) => x.status === s).length;
    expect(out).toMatchObject({
      batch_id: batchId,
      accepted: count('accepted'),
      duplicates: count('duplicate'),
      rejected: count('rejected'),
    });
    for (const r of results) {
      if (r.status === 'rejected') expect(r.errors?.length).toBeGreaterThan(0);
      else expect(r.errors).toBeUndefined();
    }

    const stored = await storedLines(batchId);
    expect(stored.size).toBe(good.length);
    for (const g of good) expect(stored.get(g.line)?.raw).toBe(g.text);
    expect(await quarantinedLines(batchId)).toEqual(
      expected.filter((x) => x.status === 'rejected').map((x) => x.line),
    );
    const batch = await ctx.rt.db
      .selectFrom('ingest_batches')
      .select(['line_count', 'accepted', 'duplicates', 'rejected'])
      .where('batch_id', '=', batchId)
      .executeTakeFirstOrThrow();
    expect(batch).toEqual({
      line_count: 10_000,
      accepted: count('accepted'),
      duplicates: count('duplicate'),
      rejected: count('rejected'),
    });

    // Sent again: what was accepted is now a duplicate; nothing more is stored.
    const again = await json(await send(p, `${lines.join('\n')}\n`));
    expect(again).toMatchObject({ accepted: 0, duplicates: count('accepted') + count('duplicate') });
  }, 120_000);

  it('quarantines every line of a batch that is all invalid (more rows than one statement has parameters)', async () => {
    const p = await ctx.addPlatform();
    const batchId = uid('batch_');
    const body = `${Array.from({ length: 10_000 }, (_, i) => `{"id":"x${i}","type":"nope"}`).join('\n')}\n`;
    const out = await json(await send(p, body, batchId));
    expect(out).toMatchObject({ accepted: 0, duplicates: 0, rejected: 10_000 });
    expect((await quarantinedLines(batchId)).length).toBe(10_000);
  }, 120_000);
});

describe('batch bytes', () => {
  it('a byte order mark, CRLF, multi-byte text and no final newline: each line stored as its exact bytes', async () => {
    const p = await ctx.addPlatform();
    const a = lineOf(uid('ev_'), tradeCreated());
    const b = lineOf(uid('ev_'), paymentMade());
    const c = lineOf(uid('ev_'), weighingRecorded({ vehicle_plate: '粤J54321' }));
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${a}\r\n\r\n${b}\n  \n${c}`)]);
    const batchId = uid('batch_');
    const out = await json(await send(p, body, batchId));
    expect(out.results.map((r: LineResult) => [r.line, r.status])).toEqual([
      [1, 'accepted'],
      [3, 'accepted'],
      [5, 'accepted'],
    ]);
    const stored = await storedLines(batchId);
    expect([1, 3, 5].map((l) => stored.get(l)?.raw)).toEqual([a, b, c]);
    const batch = await ctx.rt.db
      .selectFrom('ingest_batches')
      .select('line_count')
      .where('batch_id', '=', batchId)
      .executeTakeFirstOrThrow();
    expect(batch.line_count).toBe(5);
  });

  it('invalid UTF-8 rejects its own line only: the others are stored, its bytes are quarantined', async () => {
    const p = await ctx.addPlatform();
    const bad = Buffer.from([0x7b, 0xc3, 0x28, 0x7d]);
    const body = Buffer.concat([
      Buffer.from(`${lineOf(uid('ev_'), tradeCreated())}\n`),
      bad,
      Buffer.from(`\n${lineOf(uid('ev_'), tradeCreated())}\n`),
    ]);
    const batchId = uid('batch_');
    const res = await send(p, body, batchId);
    expect(res.status).toBe(200);
    const out = await json(res);
    expect(out).toMatchObject({ accepted: 2, duplicates: 0, rejected: 1 });
    expect(out.results[1]).toEqual({
      line: 2,
      id: null,
      status: 'rejected',
      errors: [{ pointer: '', message: 'the line is not valid UTF-8' }],
    });
    expect((await storedLines(batchId)).size).toBe(2);
    const q = await ctx.rt.db
      .selectFrom('quarantined_events')
      .select(['batch_line', 'raw_body'])
      .where('batch_id', '=', batchId)
      .execute();
    expect(q.map((r) => r.batch_line)).toEqual([2]);
    expect(ctx.rt.keyring.decryptBytes('event-bodies', q[0]!.raw_body).equals(bad)).toBe(true);
  });
});

describe('laws of a batch, whatever its lines', () => {
  it('every accepted line is stored once with its bytes, every rejected one is in the quarantine, a resend stores nothing', async () => {
    const p = await ctx.addPlatform();
    const records = Array.from({ length: 6 }, () => tradeCreated());
    const ids = Array.from({ length: 6 }, () => uid('ev_'));
    const lineArb = fc.oneof(
      // an event: one of a few ids, one of a few records, one of two contents
      fc
        .record({ id: fc.nat(5), rec: fc.nat(5), variant: fc.boolean() })
        .map(({ id, rec, variant }) =>
          lineOf(ids[id]!, variant ? withTreatment(records[rec]!, 'general_13') : records[rec]!),
        ),
      fc.constantFrom('', '{oops', '{"id":"only-id"}', '[]', 'null'),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(lineArb, { minLength: 1, maxLength: 25 }), async (lines) => {
        const body = `${lines.join('\n')}\n`;
        const batchId = uid('batch_');
        const out = await json(await send(p, body, batchId));
        const results = out.results as LineResult[];
        const nonBlank = lines.flatMap((l, i) => (l.trim() === '' ? [] : [i + 1]));
        expect(results.map((r) => r.line)).toEqual(nonBlank);
        expect(out.accepted + out.duplicates + out.rejected).toBe(nonBlank.length);
        const stored = await storedLines(batchId);
        const accepted = results.filter((r) => r.status === 'accepted');
        expect(stored.size).toBe(accepted.length);
        for (const r of accepted) expect(stored.get(r.line)?.raw).toBe(lines[r.line - 1]);
        // Kept in the quarantine: a delivery identical to one kept before (any batch) is kept once.
        const kept = await ctx.rt.db
          .selectFrom('quarantined_events')
          .select(['event_id', 'raw_body'])
          .where('platform', '=', p.code)
          .execute();
        const keys = new Set(
          kept.map(
            (q) => `${q.event_id ?? ''}\u0000${ctx.rt.keyring.decryptBytes('event-bodies', q.raw_body)}`,
          ),
        );
        for (const r of results.filter((x) => x.status === 'rejected'))
          expect(keys.has(`${r.id ?? ''}\u0000${lines[r.line - 1]}`)).toBe(true);
        const again = await json(await send(p, body));
        expect(again.accepted).toBe(0);
        const before = results.map((r) => r.status === 'rejected');
        expect((again.results as LineResult[]).map((r) => r.status === 'rejected')).toEqual(before);
      }),
      { numRuns: 25 },
    );
    // One stored content per record version, whatever was sent.
    const perRecord = await ctx.rt.db
      .selectFrom('inbound_events')
      .select(['record_key', (eb) => eb.fn.countAll<number>().as('n')])
      .where('platform', '=', p.code)
      .groupBy('record_key')
      .execute();
    for (const r of perRecord) expect(Number(r.n)).toBe(1);
  }, 120_000);
});
