import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, json, type TestContext, uid } from '../support/context';
import { paymentMade, tradeCreated, weighingRecorded } from '../support/factories';

let ctx: TestContext;
let platform: { code: string; secret: string };
const path = () => `/v1/ingest/${platform.code}/batches`;
const ndjson = (lines: unknown[]) =>
  `${lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n')}\n`;
const line = (event: { type: string; timestamp: string; data: unknown }, id = uid('ev_')) => ({
  id,
  ...event,
});

beforeAll(async () => {
  ctx = await createTestContext();
  platform = await ctx.addPlatform();
});
afterAll(async () => ctx.close());

describe('NDJSON batches', () => {
  it('rejects only the line that carries U+0000; the rest of the batch is stored', async () => {
    const nul = tradeCreated();
    (nul.data as { trade_id: string }).trade_id = 'T-NUL\u0000';
    const res = await ctx.post(path(), ndjson([line(tradeCreated()), line(nul), line(paymentMade())]), {
      secret: platform.secret,
      id: uid('batch_'),
      contentType: 'application/x-ndjson',
    });
    expect(res.status).toBe(200);
    const out = await json(res);
    expect(out).toMatchObject({ accepted: 2, duplicates: 0, rejected: 1 });
    expect(out.results[1].errors.map((e: { pointer: string }) => e.pointer)).toEqual(['/data/trade_id']);
  });

  it('rejects only the line dated outside the years 1900–2999; the rest of the batch is stored', async () => {
    const res = await ctx.post(
      path(),
      ndjson([line(tradeCreated()), line({ ...tradeCreated(), timestamp: '0000-06-01T00:00:00+00:00' })]),
      { secret: platform.secret, id: uid('batch_'), contentType: 'application/x-ndjson' },
    );
    expect(res.status).toBe(200);
    const out = await json(res);
    expect(out).toMatchObject({ accepted: 1, duplicates: 0, rejected: 1 });
    expect(out.results[1].errors).toEqual([
      { pointer: '/timestamp', message: 'must fall in the years 1900–2999 (Asia/Shanghai)' },
    ]);
  });

  it('answers per line: accepted, duplicate, rejected with errors; rejected lines are quarantined', async () => {
    const good = line(tradeCreated());
    const badTrade = tradeCreated();
    (badTrade.data as { total_amount: string }).total_amount = '1.00';
    const batchId = uid('batch_');
    const body = ndjson([
      good,
      line(paymentMade()),
      good,
      '{not json',
      line(badTrade),
      { type: 'trade.created' },
    ]);
    const res = await ctx.post(path(), body, {
      secret: platform.secret,
      id: batchId,
      contentType: 'application/x-ndjson',
    });
    expect(res.status).toBe(200);
    const out = await json(res);
    expect(out).toMatchObject({ batch_id: batchId, accepted: 2, duplicates: 1, rejected: 3 });
    expect(out.results.map((r: { status: string }) => r.status)).toEqual([
      'accepted',
      'accepted',
      'duplicate',
      'rejected',
      'rejected',
      'rejected',
    ]);
    expect(out.results[4].errors.map((e: { pointer: string }) => e.pointer)).toContain('/data/total_amount');
    expect(out.results[5].errors[0].pointer).toBe('/id');
    const q = await ctx.rt.db
      .selectFrom('quarantined_events')
      .selectAll()
      .where('batch_id', '=', batchId)
      .execute();
    expect(q.map((r) => r.batch_line).sort()).toEqual([4, 5, 6]);
    const batch = await ctx.rt.db
      .selectFrom('ingest_batches')
      .selectAll()
      .where('batch_id', '=', batchId)
      .executeTakeFirstOrThrow();
    expect(ctx.rt.keyring.decryptBytes('event-bodies', batch.raw_body).toString()).toBe(body);
    expect(batch.line_count).toBe(6);
    const events = await ctx.rt.db
      .selectFrom('inbound_events')
      .select(['batch_line', 'raw_body'])
      .where('batch_id', '=', batchId)
      .execute();
    expect(events).toHaveLength(2);
  });

  it('a retried batch is all duplicates; a line conflicting with a stored record version is rejected', async () => {
    const t = tradeCreated();
    const body = ndjson([line(t), line(weighingRecorded())]);
    const id = uid('batch_');
    await ctx.post(path(), body, { secret: platform.secret, id, contentType: 'application/x-ndjson' });
    const retry = await json(
      await ctx.post(path(), body, { secret: platform.secret, id, contentType: 'application/x-ndjson' }),
    );
    expect(retry).toMatchObject({ accepted: 0, duplicates: 2, rejected: 0 });
    const changed = { ...t, data: { ...(t.data as object), tax_treatment: 'exempt' } };
    const conflict = await json(
      await ctx.post(path(), ndjson([line(changed)]), {
        secret: platform.secret,
        contentType: 'application/x-ndjson',
      }),
    );
    expect(conflict.results[0].status).toBe('rejected');
    expect(conflict.results[0].errors[0].message).toContain((t.data as { trade_id: string }).trade_id);
    // Named as a single event's 409 names it, and kept in the quarantine as the conflict it is.
    expect(conflict.results[0].record).toEqual({
      kind: 'trade',
      key: (t.data as { trade_id: string }).trade_id,
      version: 1,
    });
    const kept = await ctx.rt.db
      .selectFrom('quarantined_events')
      .select('status')
      .where('platform', '=', platform.code)
      .where('event_id', '=', conflict.results[0].id)
      .execute();
    expect(kept).toEqual([{ status: 409 }]);
  });

  it('a line identical to a stored record is its duplicate, whatever a conflicting line before or after it', async () => {
    const stored = tradeCreated();
    const single = await ctx.post(`/v1/ingest/${platform.code}/events`, JSON.stringify(stored), {
      secret: platform.secret,
    });
    expect(single.status).toBe(202);
    const changed = {
      ...stored,
      data: { ...(stored.data as object), occurred_at: '2026-10-01T09:00:00+08:00' },
    };
    const send = async (lines: unknown[]) =>
      json(
        await ctx.post(path(), ndjson(lines), {
          secret: platform.secret,
          id: uid('batch_'),
          contentType: 'application/x-ndjson',
        }),
      );
    const conflictFirst = await send([line(changed), line(stored)]);
    const sameFirst = await send([line(stored), line(changed)]);
    expect(conflictFirst.results.map((r: { status: string }) => r.status)).toEqual(['rejected', 'duplicate']);
    expect(sameFirst.results.map((r: { status: string }) => r.status)).toEqual(['duplicate', 'rejected']);
    expect(conflictFirst).toMatchObject({ accepted: 0, duplicates: 1, rejected: 1 });
    // Two new lines of one new record: the first is stored, the second judged against it.
    const fresh = tradeCreated();
    const freshChanged = {
      ...fresh,
      data: { ...(fresh.data as object), occurred_at: '2026-10-01T09:00:00+08:00' },
    };
    const both = await send([line(fresh), line(freshChanged), line(fresh)]);
    expect(both.results.map((r: { status: string }) => r.status)).toEqual([
      'accepted',
      'rejected',
      'duplicate',
    ]);
  });

  it('413 over 10,000 lines; 415 for a JSON content type', async () => {
    const body = '{}\n'.repeat(10_001);
    const res = await ctx.post(path(), body, {
      secret: platform.secret,
      contentType: 'application/x-ndjson',
    });
    expect(res.status).toBe(413);
    const wrong = await ctx.post(path(), ndjson([line(tradeCreated())]), { secret: platform.secret });
    expect(wrong.status).toBe(415);
  });

  it('a signature over a different body is 401 and nothing is stored', async () => {
    const id = uid('batch_');
    const res = await ctx.app.request(path(), {
      method: 'POST',
      body: ndjson([line(tradeCreated())]),
      headers: {
        'content-type': 'application/x-ndjson',
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
        'webhook-signature': 'v1,AAAA',
      },
    });
    expect(res.status).toBe(401);
    const rows = await ctx.rt.db
      .selectFrom('ingest_batches')
      .select('batch_id')
      .where('batch_id', '=', id)
      .execute();
    expect(rows).toHaveLength(0);
  });
});
