import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countEventsByState } from '../../src/repositories/events.repository';
import { addPlatformSecret, setPlatformStatus } from '../../src/repositories/platforms.repository';
import { generateSecret } from '../../src/security/webhook';
import { createTestContext, json, type TestContext, uid } from '../support/context';
import { partyRegistered, paymentMade, tradeCreated, weighingRecorded } from '../support/factories';

let ctx: TestContext;
let platform: { code: string; secret: string };
const path = () => `/v1/ingest/${platform.code}/events`;

beforeAll(async () => {
  ctx = await createTestContext();
  platform = await ctx.addPlatform();
});
afterAll(async () => ctx.close());

async function stored(eventId: string) {
  return ctx.rt.db
    .selectFrom('inbound_events')
    .selectAll()
    .where('platform', '=', platform.code)
    .where('event_id', '=', eventId)
    .executeTakeFirst();
}
async function quarantined(eventId: string) {
  return ctx.rt.db.selectFrom('quarantined_events').selectAll().where('event_id', '=', eventId).execute();
}

describe('happy path', () => {
  it('202: stores the exact bytes and signature headers before answering, and queues the event', async () => {
    const id = uid('msg_');
    const body = JSON.stringify(tradeCreated());
    const res = await ctx.post(path(), body, { secret: platform.secret, id });
    expect(res.status).toBe(202);
    const out = await json(res);
    expect(out).toMatchObject({ status: 'accepted', event_id: id });
    expect(new Date(out.received_at).toString()).not.toBe('Invalid Date');
    expect(out.received_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?\+08:00$/); // as every time of the API
    const row = await stored(id);
    // Stored encrypted (id numbers, account numbers), decrypting to the exact bytes received.
    expect(row?.raw_body.includes(Buffer.from('id_number'))).toBe(false);
    expect(ctx.rt.keyring.decryptBytes('event-bodies', row!.raw_body).toString()).toBe(body);
    expect(row?.state).toBe('pending');
    expect(row?.record_kind).toBe('trade');
    expect((row?.signature as Record<string, string> | undefined)?.['webhook-id']).toBe(id);
    const counts = await ctx.rt.queues.counts();
    expect(counts.reduce((s, q) => s + (q.counts.waiting ?? 0), 0)).toBeGreaterThan(0);
  });

  it('200 duplicate: the same webhook-id again', async () => {
    const id = uid('msg_');
    const body = JSON.stringify(paymentMade());
    expect((await ctx.post(path(), body, { secret: platform.secret, id })).status).toBe(202);
    const again = await ctx.post(path(), body, { secret: platform.secret, id });
    expect(again.status).toBe(200);
    expect(await json(again)).toEqual({ status: 'duplicate', event_id: id });
  });

  it('200 duplicate: an identical record version under a new webhook-id, even with another envelope timestamp', async () => {
    const event = tradeCreated();
    expect((await ctx.post(path(), JSON.stringify(event), { secret: platform.secret })).status).toBe(202);
    const resend = { ...event, timestamp: '2026-10-03T00:00:00+08:00' };
    const res = await ctx.post(path(), JSON.stringify(resend), { secret: platform.secret });
    expect(res.status).toBe(200);
    expect((await json(res)).status).toBe('duplicate');
  });

  it('accepts a signature made by the standardwebhooks library (interoperability)', async () => {
    const wh = new Webhook(platform.secret);
    const id = uid('msg_');
    const now = new Date();
    const body = JSON.stringify(weighingRecorded());
    const signature = wh.sign(id, now, body);
    const res = await ctx.app.request(path(), {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
        'webhook-signature': signature,
      },
    });
    expect(res.status).toBe(202);
  });

  it('accepts any one valid signature among several, and both secrets after a rotation', async () => {
    const p = await ctx.addPlatform();
    const second = generateSecret();
    await addPlatformSecret(ctx.rt.db, p.code, ctx.rt.keyring.encrypt('platform-secrets', second));
    for (const secret of [p.secret, second]) {
      const res = await ctx.post(`/v1/ingest/${p.code}/events`, JSON.stringify(tradeCreated()), { secret });
      expect(res.status).toBe(202);
    }
    // Several signatures in one header: a stale one first, then a valid one.
    const id = uid('msg_');
    const ts = Math.floor(Date.now() / 1000);
    const body = JSON.stringify(tradeCreated());
    const valid = new Webhook(second).sign(id, new Date(ts * 1000), body);
    const res = await ctx.app.request(`/v1/ingest/${p.code}/events`, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'webhook-id': id,
        'webhook-timestamp': String(ts),
        'webhook-signature': `v1,${Buffer.alloc(32).toString('base64')} ${valid}`,
      },
    });
    expect(res.status).toBe(202);
  });

  it('never conflicts on party.registered: master data, latest timestamp wins later', async () => {
    const first = partyRegistered();
    const data = first.data as Record<string, unknown>;
    const second = {
      ...first,
      timestamp: '2026-10-05T00:00:00+08:00',
      data: { ...data, name: '改名后的公司' },
    };
    expect((await ctx.post(path(), JSON.stringify(first), { secret: platform.secret })).status).toBe(202);
    expect((await ctx.post(path(), JSON.stringify(second), { secret: platform.secret })).status).toBe(202);
    // Different content at the same timestamp: still never a 409.
    const sameTime = { ...first, data: { ...data, name: '同一时刻的另一名称' } };
    expect((await ctx.post(path(), JSON.stringify(sameTime), { secret: platform.secret })).status).toBe(202);
  });

  it('200 duplicate: a replay of party.registered (same content, same timestamp) under a new webhook-id', async () => {
    const event = partyRegistered();
    const id = uid('msg_');
    expect((await ctx.post(path(), JSON.stringify(event), { secret: platform.secret, id })).status).toBe(202);
    const again = await ctx.post(path(), JSON.stringify(event), { secret: platform.secret });
    expect(again.status).toBe(200);
    expect((await json(again)).status).toBe('duplicate');
    // Five replays at once (one group commit, or several): all duplicates, one stored event.
    const burst = await Promise.all(
      Array.from({ length: 5 }, () => ctx.post(path(), JSON.stringify(event), { secret: platform.secret })),
    );
    expect(burst.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    const uscc = (event.data as { uscc: string }).uscc;
    const rows = await ctx.rt.db
      .selectFrom('inbound_events')
      .select('event_id')
      .where('platform', '=', platform.code)
      .where('record_key', '=', uscc)
      .execute();
    expect(rows.map((r) => r.event_id)).toEqual([id]);
    // A fresh one sent five times at once, each under its own webhook-id: stored once.
    const fresh = partyRegistered();
    const race = await Promise.all(
      Array.from({ length: 5 }, () => ctx.post(path(), JSON.stringify(fresh), { secret: platform.secret })),
    );
    expect(race.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 202]);
    // The same content stated again at a later time is a new statement: stored.
    const later = { ...event, timestamp: '2026-11-01T00:00:00+08:00' };
    expect((await ctx.post(path(), JSON.stringify(later), { secret: platform.secret })).status).toBe(202);
  });
});

describe('errors', () => {
  it('409: same record key and version with different content, named in the problem and quarantined', async () => {
    const event = tradeCreated();
    expect((await ctx.post(path(), JSON.stringify(event), { secret: platform.secret })).status).toBe(202);
    const data = event.data as Record<string, unknown>;
    const changed = { ...event, data: { ...data, site: { code: 'S-99', division: '440703' } } };
    const id = uid('msg_');
    const res = await ctx.post(path(), JSON.stringify(changed), { secret: platform.secret, id });
    expect(res.status).toBe(409);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const problem = await json(res);
    expect(problem.detail).toContain(String(data.trade_id));
    expect(problem.record).toEqual({ kind: 'trade', key: data.trade_id, version: 1 });
    const q = await quarantined(id);
    expect(q).toHaveLength(1);
    expect(q[0]!.status).toBe(409);
  });

  it('400: malformed JSON, kept in quarantine', async () => {
    const id = uid('msg_');
    const res = await ctx.post(path(), '{"type": "trade.created", ', { secret: platform.secret, id });
    expect(res.status).toBe(400);
    const problem = await json(res);
    expect(problem.errors[0].pointer).toBe('');
    expect(await quarantined(id)).toHaveLength(1);
    expect(await stored(id)).toBeUndefined();
  });

  it('400: schema errors with JSON pointers into the body; a JSON number amount is refused', async () => {
    const event = tradeCreated();
    const data = event.data as { lines: Record<string, unknown>[] };
    data.lines[0]!.quantity = 12.345;
    const id = uid('msg_');
    const res = await ctx.post(path(), JSON.stringify(event), { secret: platform.secret, id });
    expect(res.status).toBe(400);
    const problem = await json(res);
    expect(problem.type).toBe('/problems/validation');
    expect(problem.errors.map((e: { pointer: string }) => e.pointer)).toContain('/data/lines/0/quantity');
    const q = await quarantined(id);
    expect(q).toHaveLength(1);
    expect(q[0]!.errors).toEqual(problem.errors);
  });

  it('400: arithmetic — a line amount that is not quantity × unit price', async () => {
    const event = tradeCreated();
    const data = event.data as { lines: Record<string, unknown>[]; total_amount: string };
    data.lines[0]!.amount = '27160.00';
    data.total_amount = '27160.00';
    const res = await ctx.post(path(), JSON.stringify(event), { secret: platform.secret });
    expect(res.status).toBe(400);
    const problem = await json(res);
    expect(problem.errors.map((e: { pointer: string }) => e.pointer)).toContain('/data/lines/0/amount');
  });

  it('400: an unknown event type', async () => {
    const res = await ctx.post(
      path(),
      JSON.stringify({ type: 'trade.exploded', timestamp: '2026-10-02T08:15:00+08:00', data: {} }),
      {
        secret: platform.secret,
      },
    );
    expect(res.status).toBe(400);
    expect((await json(res)).errors[0].pointer).toBe('/type');
  });

  it('401: missing headers, a bad signature, a stale timestamp — counted, never stored', async () => {
    const body = JSON.stringify(tradeCreated());
    const noHeaders = await ctx.app.request(path(), {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
    });
    expect(noHeaders.status).toBe(401);
    const badId = uid('msg_');
    const bad = await ctx.post(path(), body, { secret: generateSecret(), id: badId });
    expect(bad.status).toBe(401);
    const staleId = uid('msg_');
    const stale = await ctx.post(path(), body, {
      secret: platform.secret,
      id: staleId,
      timestamp: Math.floor(Date.now() / 1000) - 301,
    });
    expect(stale.status).toBe(401);
    const future = await ctx.post(path(), body, {
      secret: platform.secret,
      timestamp: Math.floor(Date.now() / 1000) + 301,
    });
    expect(future.status).toBe(401);
    for (const id of [badId, staleId]) {
      expect(await stored(id)).toBeUndefined();
      expect(await quarantined(id)).toHaveLength(0);
    }
    const problem = await json(bad);
    expect(JSON.stringify(problem)).not.toMatch(/expected|hmac|v1,/i);
    const metrics = await ctx.rt.metrics.registry.getSingleMetricAsString(
      'retrace_ingest_auth_failures_total',
    );
    expect(metrics).toMatch(/reason="bad_signature"/);
  });

  it('403: unknown platform; a disabled platform', async () => {
    const unknown = await ctx.post('/v1/ingest/nosuchplatform/events', JSON.stringify(tradeCreated()), {
      secret: platform.secret,
    });
    expect(unknown.status).toBe(403);
    const p = await ctx.addPlatform();
    await setPlatformStatus(ctx.rt.db, p.code, 'disabled');
    const disabled = await ctx.post(`/v1/ingest/${p.code}/events`, JSON.stringify(tradeCreated()), {
      secret: p.secret,
    });
    expect(disabled.status).toBe(403);
  });

  it('413 over 1 MiB; 415 when not application/json', async () => {
    const big = JSON.stringify({ ...tradeCreated(), padding: 'x'.repeat(1024 * 1024) });
    expect((await ctx.post(path(), big, { secret: platform.secret })).status).toBe(413);
    const res = await ctx.post(path(), JSON.stringify(tradeCreated()), {
      secret: platform.secret,
      contentType: 'text/plain',
    });
    expect(res.status).toBe(415);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });

  it('429 with Retry-After when a platform passes its rate limit', async () => {
    const p = await ctx.addPlatform({ rateLimit: 3 });
    // Sent at once, so that they fall in one or two one-second windows even on a slow machine.
    const responses = await Promise.all(
      Array.from({ length: 12 }, () =>
        ctx.post(`/v1/ingest/${p.code}/events`, JSON.stringify(tradeCreated()), { secret: p.secret }),
      ),
    );
    const limited = responses.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(Number(limited[0]!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited[0]!.headers.get('content-type')).toContain('application/problem+json');
  });

  it('never a 5xx for hostile input', async () => {
    const bodies = [
      'null',
      '[]',
      '"x"',
      '{"type":null}',
      '{"type":"trade.created","timestamp":"x","data":[]}',
      '\u0000',
      '{"a":'.repeat(500),
    ];
    for (const body of bodies) {
      const res = await ctx.post(path(), body, { secret: platform.secret });
      expect(res.status).toBe(400);
    }
    const invalidUtf8 = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]);
    expect((await ctx.post(path(), invalidUtf8, { secret: platform.secret })).status).toBe(400);
  });

  it('400 with a pointer for text no store can keep: U+0000 and lone surrogates, in values and member names', async () => {
    const trade = tradeCreated();
    const data = trade.data as Record<string, unknown>;
    const cases: [unknown, string][] = [
      [{ ...trade, data: { ...data, trade_id: 'T-1\u0000' } }, '/data/trade_id'],
      [
        { ...trade, data: { ...data, site: { ...(data.site as object), code: 'S\u0000' } } },
        '/data/site/code',
      ],
      [{ ...trade, data: { ...data, trade_id: 'T-\ud800' } }, '/data/trade_id'],
      [{ ...trade, data: { ...data, 'note\u0000': 'x' } }, '/data/note\u0000'],
      [{ ...trade, data: { ...data, extra: ['ok', 'bad\u0000'] } }, '/data/extra/1'],
    ];
    for (const [event, pointer] of cases) {
      const id = uid('msg_');
      // JSON.stringify writes U+0000 as \u0000 and a lone surrogate as \ud800: valid JSON.
      const res = await ctx.post(path(), JSON.stringify(event), { secret: platform.secret, id });
      expect(res.status, pointer).toBe(400);
      const body = await json(res);
      expect(body.errors.map((e: { pointer: string }) => e.pointer)).toContain(pointer);
      expect(await stored(id)).toBeUndefined();
      expect(await quarantined(id)).toHaveLength(1);
    }
    // A good event sent beside them in the same moment (one group commit) is unaffected.
    const [bad, good] = await Promise.all([
      ctx.post(path(), JSON.stringify({ ...trade, data: { ...data, trade_id: 'T-2\u0000' } }), {
        secret: platform.secret,
      }),
      ctx.post(path(), JSON.stringify(tradeCreated()), { secret: platform.secret }),
    ]);
    expect([bad.status, good.status]).toEqual([400, 202]);
  });
  it('400 for times and dates outside the years 1900–2999, which PostgreSQL or the periods cannot hold', async () => {
    const trade = tradeCreated();
    const data = trade.data as Record<string, unknown>;
    const party = partyRegistered();
    const cases: [unknown, string][] = [
      [{ ...trade, timestamp: '0000-01-01T00:00:00+00:00' }, '/timestamp'],
      [{ ...trade, data: { ...data, occurred_at: '0001-01-01T00:00:00+08:00' } }, '/data/occurred_at'],
      // 23:59 on 31 December 1899 in Shanghai (15:59 UTC): the Asia/Shanghai year is what counts.
      [{ ...trade, data: { ...data, occurred_at: '1899-12-31T15:59:00Z' } }, '/data/occurred_at'],
      [{ ...trade, data: { ...data, occurred_at: '9999-12-31T23:59:59+08:00' } }, '/data/occurred_at'],
      [
        { ...party, data: { ...(party.data as object), established_on: '0000-01-01' } },
        '/data/established_on',
      ],
    ];
    for (const [event, pointer] of cases) {
      const id = uid('msg_');
      const res = await ctx.post(path(), JSON.stringify(event), { secret: platform.secret, id });
      expect(res.status, pointer).toBe(400);
      const body = await json(res);
      expect(body.errors.map((e: { pointer: string }) => e.pointer)).toEqual([pointer]);
      expect(await quarantined(id)).toHaveLength(1);
    }
    for (const at of ['1900-01-01T00:00:00+08:00', '2999-12-31T23:59:59+08:00']) {
      const res = await ctx.post(path(), JSON.stringify(tradeCreated({ occurred_at: at })), {
        secret: platform.secret,
      });
      expect(res.status, at).toBe(202);
    }
  });
});

describe('concurrency', () => {
  it('the same event sent 20 times at once is stored once: one 202, nineteen duplicates', async () => {
    const id = uid('msg_');
    const body = JSON.stringify(tradeCreated());
    const results = await Promise.all(
      Array.from({ length: 20 }, () => ctx.post(path(), body, { secret: platform.secret, id })),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(19);
    const rows = await ctx.rt.db
      .selectFrom('inbound_events')
      .select('event_id')
      .where('event_id', '=', id)
      .execute();
    expect(rows).toHaveLength(1);
  });

  it('twenty different events racing for one record version: exactly one is stored', async () => {
    const event = tradeCreated();
    const body = JSON.stringify(event);
    const results = await Promise.all(
      Array.from({ length: 20 }, () => ctx.post(path(), body, { secret: platform.secret })),
    );
    expect(results.filter((r) => r.status === 202)).toHaveLength(1);
    expect(results.filter((r) => r.status === 200)).toHaveLength(19);
    const counts = await countEventsByState(ctx.rt.db);
    expect(counts.pending).toBeGreaterThan(0);
  });
});
