import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, json, type TestContext } from '../support/context';
import { enterprise, envelope, person } from '../support/factories';
import { addOfficer, bearer, type TestOfficer } from '../support/officers';
import { drain } from '../support/pipeline';

let ctx: TestContext;
let officer: TestOfficer;
let supervisor: TestOfficer;
let elsewhere: TestOfficer;
let findingId: string;
let platform: { code: string; secret: string };
const station = enterprise('蓬江价格异常回收站', '440703');
const seller = person('价格异常卖家', '440703');

const priced = (version: number, unitPrice: string) => {
  const amount = (1000 * Number(unitPrice)).toFixed(2);
  return envelope(version === 1 ? 'trade.created' : 'trade.amended', {
    trade_id: 'PRICE-1',
    version,
    occurred_at: '2026-10-02T10:00:00+08:00',
    seller,
    buyer: station,
    site: { code: 'S1', division: '440703' },
    lines: [{ material: 'CU', quantity: '1000', unit: 'kg', unit_price: unitPrice, amount }],
    total_amount: amount,
    tax_treatment: 'reverse_invoice',
  });
};

async function send(e: unknown) {
  const res = await ctx.post(`/v1/ingest/${platform.code}/events`, JSON.stringify(e), {
    secret: platform.secret,
  });
  expect(res.status).toBe(202);
  await drain(ctx);
}

const get = (path: string, token: string) => ctx.app.request(path, { headers: bearer(token) });
const review = (id: string, token: string, body: unknown) =>
  ctx.app.request(`/v1/anomalies/${id}/review`, {
    method: 'POST',
    headers: bearer(token, { 'content-type': 'application/json' }),
    body: JSON.stringify(body),
  });

beforeAll(async () => {
  ctx = await createTestContext();
  platform = await ctx.addPlatform();
  officer = await addOfficer(ctx, { divisions: ['440703'] });
  supervisor = await addOfficer(ctx, { role: 'supervisor', divisions: ['440700'] });
  elsewhere = await addOfficer(ctx, { role: 'supervisor', divisions: ['440705'] });
  // CU at ¥90/kg against the ¥60,000/t reference: +50% → PRICE_DEVIATION medium (not above 50%).
  await send(priced(1, '90.00'));
});
afterAll(async () => ctx.close());

describe('GET /v1/anomalies', () => {
  it('lists the finding to an officer of the district, with evidence and thresholds', async () => {
    const res = await get('/v1/anomalies?rule=PRICE_DEVIATION', officer.token);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.items).toHaveLength(1);
    const f = body.items[0];
    findingId = f.id;
    expect(f).toMatchObject({
      rule: 'PRICE_DEVIATION',
      severity: 'medium',
      period: '2026-10',
      status: 'open',
    });
    expect(f.party.key).toBe(station.uscc);
    expect(f.trades[0]).toMatchObject({ platform: platform.code, trade_id: 'PRICE-1' });
    expect(f.evidence.deviation).toBe('0.5000');
    expect(f.evidence.thresholds).toMatchObject({ medium_basis_points: 3000, high_basis_points: 5000 });
    expect(f.summary.zh).toContain('PRICE-1');
    expect(body.next_cursor).toBeNull();
  });

  it('an officer of another district sees an empty list and a 404', async () => {
    expect((await json(await get('/v1/anomalies', elsewhere.token))).items).toEqual([]);
    expect((await json(await get('/v1/anomalies?division=440703', elsewhere.token))).items).toEqual([]);
    expect((await get(`/v1/anomalies/${findingId}`, elsewhere.token)).status).toBe(404);
  });

  it('paginates with an opaque cursor and rejects hostile parameters with 400', async () => {
    const first = await json(await get('/v1/anomalies?limit=1', supervisor.token));
    expect(first.items.length).toBeLessThanOrEqual(1);
    for (const q of [
      'limit=0',
      'limit=501',
      'limit=-1',
      'cursor=abc',
      "rule=x';DROP TABLE anomalies;--",
      'period=2026-13',
      'party=110105194912310021',
    ]) {
      const res = await get(`/v1/anomalies?${q}`, officer.token);
      expect(res.status, q).toBe(400);
    }
    expect((await get('/v1/anomalies/99999999999999999999999', officer.token)).status).toBe(404);
    expect((await get('/v1/anomalies/%E2%80%AE', officer.token)).status).toBe(404);
  });

  it('requires a token; auditors may not read findings', async () => {
    expect((await ctx.app.request('/v1/anomalies')).status).toBe(401);
    const auditor = await addOfficer(ctx, { role: 'auditor', divisions: [] });
    expect((await get('/v1/anomalies', auditor.token)).status).toBe(403);
  });
});

describe('POST /v1/anomalies/{id}/review', () => {
  it('only supervisors review; a bad body is a 400 with pointers', async () => {
    expect((await review(findingId, officer.token, { decision: 'confirmed', note: 'x' })).status).toBe(403);
    const bad = await review(findingId, supervisor.token, { decision: 'maybe', note: '' });
    expect(bad.status).toBe(400);
    const pointers = (await json(bad)).errors.map((e: { pointer: string }) => e.pointer);
    expect(pointers).toEqual(expect.arrayContaining(['/decision', '/note']));
    expect((await review(findingId, elsewhere.token, { decision: 'confirmed', note: '越权' })).status).toBe(
      404,
    );
  });

  it('records the decision with reviewer, note and time, in the history and the audit log', async () => {
    const res = await review(findingId, supervisor.token, {
      decision: 'dismissed',
      note: '行情波动，价格合理',
    });
    expect(res.status).toBe(200);
    const f = await json(res);
    expect(f.status).toBe('dismissed');
    expect(f.review).toMatchObject({ reviewer: supervisor.login, note: '行情波动，价格合理' });
    const detail = await json(await get(`/v1/anomalies/${findingId}`, supervisor.token));
    expect(detail.history.map((h: { kind: string }) => h.kind)).toEqual(['detected', 'dismissed']);
    const audit = await ctx.rt.db
      .selectFrom('audit_log')
      .select(['endpoint', 'method', 'status', 'query'])
      .where('actor', '=', supervisor.login)
      .where('method', '=', 'POST')
      .execute();
    const entry = audit.find((a) => a.status === 200 && a.endpoint.includes('review'));
    // The entry says what was decided, not only that something was posted.
    expect(entry?.query).toMatchObject({ 'body.decision': 'dismissed', 'body.note': '行情波动，价格合理' });
  });

  it('a dismissed finding that fires again on new facts reopens; fixed facts close it; a closed one cannot be reviewed', async () => {
    await send(priced(2, '96.00')); // +60%: different facts (and now high)
    let f = await json(await get(`/v1/anomalies/${findingId}`, supervisor.token));
    expect(f.status).toBe('open');
    expect(f.severity).toBe('high');
    // Open again: no decision stands on it until it is reviewed anew; the dismissal is history.
    expect(f.review).toBeNull();
    expect(f.history.map((h: { kind: string }) => h.kind)).toEqual(['detected', 'dismissed', 'reopened']);
    await send(priced(3, '61.00')); // within ±30%: the cause is gone
    f = await json(await get(`/v1/anomalies/${findingId}`, supervisor.token));
    expect(f.status).toBe('closed');
    expect(f.closed_reason).toContain('no longer supported');
    expect(f.history.map((h: { kind: string }) => h.kind)).toEqual([
      'detected',
      'dismissed',
      'reopened',
      'closed',
    ]);
    expect((await review(findingId, supervisor.token, { decision: 'confirmed', note: '晚了' })).status).toBe(
      409,
    );
    // Closed findings leave the list and the trade's anomalies; `status=closed` still finds them.
    const ids = async (q: string) =>
      (await json(await get(`/v1/anomalies?${q}`, supervisor.token))).items.map((a: { id: string }) => a.id);
    expect(await ids('rule=PRICE_DEVIATION')).not.toContain(findingId);
    expect(await ids('rule=PRICE_DEVIATION&status=closed')).toContain(findingId);
    const trade = await json(await get(`/v1/trades/${platform.code}:PRICE-1`, supervisor.token));
    expect(trade.anomalies.map((a: { id: string }) => a.id)).not.toContain(findingId);
  });
});
