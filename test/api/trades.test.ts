import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBaseApp } from '../../src/http/app';
import { OPENAPI_INFO } from '../../src/http/create-app';
import { registerParties } from '../../src/http/routes/parties';
import { registerTrades } from '../../src/http/routes/trades';
import { decodeTradeCursor, encodeTradeCursor } from '../../src/http/routes/trades/listTrades';
import { setOfficerStatus } from '../../src/repositories/officers.repository';
import { microsToIso } from '../../src/repositories/trades-query.repository';
import { type AnyJson, createTestContext, json, type TestContext } from '../support/context';
import { enterprise, envelope, person } from '../support/factories';
import { addOfficer, type OfficerApp, type TestOfficer } from '../support/officers';
import { auditOf, buildQueryApp, getAs, push } from './query-app';

let ctx: TestContext;
let oa: OfficerApp;
let platform: { code: string; secret: string };

// Parties: one per district, so that scope is visible in every answer.
const S = enterprise('蓬江绿源回收站', '440703');
const C = enterprise('江海分拣中心', '440704');
const M = enterprise('新会钢铁', '440705');
const T = enterprise('台山回收站', '440781');
const P = person('甲', '440703');
const Q = person('乙', '440781');
const PAYER_ACCOUNT = '6222020200001234010';
const PAYEE_ACCOUNT = '6222020200009876543';
const PERSON_ACCOUNT = '6217000000001111222';

type Party = typeof S | typeof P;

function trade(
  id: string,
  seller: Party,
  buyer: Party,
  kg: number,
  at: string,
  opts: { version?: number; material?: string } = {},
) {
  const amount = ((kg * 220) / 100).toFixed(2);
  return envelope(opts.version && opts.version > 1 ? 'trade.amended' : 'trade.created', {
    trade_id: id,
    version: opts.version ?? 1,
    occurred_at: at,
    seller,
    buyer,
    site: { code: 'S1', division: '440703' },
    lines: [
      { material: opts.material ?? 'FE_HEAVY', quantity: String(kg), unit: 'kg', unit_price: '2.20', amount },
    ],
    total_amount: amount,
    tax_treatment: seller.kind === 'natural_person' ? 'reverse_invoice' : 'simple_3',
  });
}

let o703: TestOfficer;
let o705: TestOfficer;
let o781: TestOfficer;
let city: TestOfficer;
let pii703: TestOfficer;
let sup703: TestOfficer;
let auditor: TestOfficer;
let admin: TestOfficer;
const ids: Record<string, string> = {};
const X2_INVOICE = '26442000000000000101';

beforeAll(async () => {
  ctx = await createTestContext();
  oa = buildQueryApp(ctx);
  platform = await ctx.addPlatform();
  await push(
    ctx,
    platform,
    trade('X1', P, S, 1000, '2026-10-01T10:00:00+08:00'),
    trade('X2', S, M, 800, '2026-10-03T10:00:00+08:00'),
    trade('X3', Q, T, 500, '2026-10-02T10:00:00+08:00'),
    trade('X4', T, M, 400, '2026-10-04T10:00:00+08:00'),
    trade('X5', S, C, 100, '2026-10-05T10:00:00+08:00'),
    // Two trades at the same instant: the trade id breaks the tie.
    trade('X6', P, S, 10, '2026-10-07T10:00:00+08:00'),
    trade('X7', P, S, 20, '2026-10-07T10:00:00+08:00'),
    envelope('payment.made', {
      payment_id: 'PAY-X2',
      trade_ids: ['X2'],
      paid_at: '2026-10-03T12:00:00+08:00',
      amount: '1760.00',
      channel: 'bank_transfer',
      payer: { account_name: M.name, account_no: PAYER_ACCOUNT, party: M },
      payee: { account_name: S.name, account_no: PAYEE_ACCOUNT, party: S },
      serial_no: 'B20261003000017',
    }),
    envelope('payment.made', {
      payment_id: 'PAY-X1',
      trade_ids: ['X1'],
      paid_at: '2026-10-01T12:00:00+08:00',
      amount: '2200.00',
      channel: 'wechat_pay',
      payer: { account_name: S.name, account_no: '6222000000005555666', party: S },
      payee: { account_name: P.name, account_no: PERSON_ACCOUNT, party: P },
    }),
    envelope('weighing.recorded', {
      weighing_id: 'W-X2',
      ticket_no: 'TK-X2-001',
      trade_id: 'X2',
      site: { code: 'S1', division: '440703' },
      vehicle_plate: '粤J12345',
      gross_kg: '15800.000',
      tare_kg: '15000.000',
      net_kg: '800.000',
      weighed_at: '2026-10-03T09:00:00+08:00',
    }),
    // 1,760.00 = 1,708.74 + 51.26 (3%)
    envelope('invoice.issued', {
      invoice_no: X2_INVOICE,
      kind: 'special',
      issued_at: '2026-10-04T10:00:00+08:00',
      seller: S,
      buyer: M,
      trade_ids: ['X2'],
      lines: [
        {
          material: 'FE_HEAVY',
          quantity: '800',
          unit: 'kg',
          amount_ex_tax: '1708.74',
          tax_rate: '0.03',
          tax_amount: '51.26',
        },
      ],
      total_ex_tax: '1708.74',
      total_tax: '51.26',
      total: '1760.00',
    }),
    envelope('invoice.reversed', {
      invoice_no: '26442000000000000102',
      original_invoice_no: X2_INVOICE,
      issued_at: '2026-10-06T10:00:00+08:00',
      total_ex_tax: '-1708.74',
      total_tax: '-51.26',
      total: '-1760.00',
    }),
  );
  await push(
    ctx,
    platform,
    trade('X1', P, S, 1200, '2026-10-01T10:00:00+08:00', { version: 2 }),
    envelope('trade.cancelled', { trade_id: 'X5', version: 2, reason: 'entered twice' }),
  );
  for (const r of await ctx.rt.db.selectFrom('trades').select(['id', 'trade_id']).execute()) {
    ids[r.trade_id] = r.id.toString();
  }
  // A finding citing X2 (the rule engine is not part of this test).
  await ctx.rt.db
    .insertInto('anomalies')
    .values({
      rule: 'THIRD_PARTY_PAYEE',
      dedupe_key: 'x2',
      rule_version: 1,
      severity: 'high',
      party_key: S.uscc,
      division: '440703',
      period: '2026-10',
      trades: JSON.stringify([{ id: ids.X2, platform: platform.code, trade_id: 'X2' }]),
      summary_zh: '收款人非卖方',
      summary_en: 'Payee is not the seller',
      evidence: JSON.stringify({}),
      fingerprint: 'f',
    })
    .execute();

  o703 = await addOfficer(ctx, { divisions: ['440703'] });
  o705 = await addOfficer(ctx, { divisions: ['440705'] });
  o781 = await addOfficer(ctx, { divisions: ['440781'] });
  city = await addOfficer(ctx, { divisions: ['440700'] });
  pii703 = await addOfficer(ctx, { divisions: ['440703'], pii: true });
  sup703 = await addOfficer(ctx, { divisions: ['440703'], role: 'supervisor' });
  auditor = await addOfficer(ctx, { role: 'auditor', divisions: ['440700'] });
  admin = await addOfficer(ctx, { role: 'admin', divisions: ['440700'] });
});
afterAll(async () => ctx.close());

const tradeIds = (body: AnyJson): string[] => body.items.map((t: AnyJson) => t.trade_id);

describe('GET /v1/trades — scope and order', () => {
  it('lists only trades with a party in the officer’s divisions, newest first', async () => {
    const r = await getAs(oa, '/v1/trades', o703.token);
    expect(r.status).toBe(200);
    // X7 and X6 share their instant: the larger id first.
    expect(tradeIds(r.body)).toEqual(['X7', 'X6', 'X5', 'X2', 'X1']);
    expect(r.body.next_cursor).toBeNull();
    expect(tradeIds((await getAs(oa, '/v1/trades', o705.token)).body)).toEqual(['X4', 'X2']);
    expect(tradeIds((await getAs(oa, '/v1/trades', o781.token)).body)).toEqual(['X4', 'X3']);
    expect(tradeIds((await getAs(oa, '/v1/trades', city.token)).body)).toEqual([
      'X7',
      'X6',
      'X5',
      'X4',
      'X2',
      'X3',
      'X1',
    ]);
  });

  it('shows each trade with parties, amounts as strings, times with +08:00 and its flow statuses', async () => {
    const r = await getAs(oa, '/v1/trades?seller=' + S.uscc + '&status=active', o703.token);
    expect(r.body.items).toHaveLength(1);
    expect(r.body.items[0]).toEqual({
      id: ids.X2,
      platform: platform.code,
      trade_id: 'X2',
      version: 1,
      status: 'active',
      occurred_at: '2026-10-03T10:00:00+08:00',
      seller: { key: S.uscc, kind: 'enterprise', name: S.name, division: '440703' },
      buyer: { key: M.uscc, kind: 'enterprise', name: M.name, division: '440705' },
      site: { code: 'S1', division: '440703' },
      materials: ['FE_HEAVY'],
      quantity_kg: '800.000',
      amount: '1760.00',
      tax_treatment: 'simple_3',
      flow: { payment: 'matched', weighing: 'matched', invoice: 'missing', overall: 'pending' },
    });
  });

  it('filters narrow the scope and never widen it', async () => {
    const list = async (q: string, o = o703) => tradeIds((await getAs(oa, `/v1/trades?${q}`, o.token)).body);
    expect(await list(`party=${S.uscc}`)).toEqual(['X7', 'X6', 'X5', 'X2', 'X1']);
    expect(await list(`seller=${S.uscc}`)).toEqual(['X5', 'X2']);
    expect(await list(`buyer=${S.uscc}`)).toEqual(['X7', 'X6', 'X1']);
    expect(await list(`seller=${S.uscc}&buyer=${M.uscc}`)).toEqual(['X2']);
    expect(await list('status=cancelled')).toEqual(['X5']);
    expect(await list('status=active')).toEqual(['X7', 'X6', 'X2', 'X1']);
    expect(await list('status=reconciled')).toEqual([]);
    expect(await list('status=discrepant', city)).toEqual([]);
    expect(await list('status=pending')).toEqual(['X7', 'X6', 'X2', 'X1']);
    expect(await list('material=CU')).toEqual([]);
    expect(
      await list('material=FE_HEAVY&from=2026-10-03T10:00:00%2B08:00&to=2026-10-07T10:00:00%2B08:00'),
    ).toEqual(['X5', 'X2']);
    // The same with the offsets' `+` unencoded, as curl sends what was typed: it arrives as a space.
    expect(
      await list('material=FE_HEAVY&from=2026-10-03T10:00:00+08:00&to=2026-10-07T10:00:00+08:00'),
    ).toEqual(['X5', 'X2']);
    // A party out of scope: its trades with in-scope parties only (here none).
    expect(await list(`party=${T.uscc}`)).toEqual([]);
    expect(await list(`party=${T.uscc}`, o705)).toEqual(['X4']);
    // division: of the trades the officer sees, those with a party in that division — another
    // district's too (X2's buyer is in 440705: a 440703 officer sees X2 through its seller).
    expect(await list('division=440705')).toEqual(['X2']);
    expect(await list('division=440700')).toEqual(['X7', 'X6', 'X5', 'X2', 'X1']);
    expect(await list('division=440705', city)).toEqual(['X4', 'X2']);
    expect(await list('division=440781', o705)).toEqual(['X4']);
    expect(await list('division=440783', o705)).toEqual([]);
  });

  it('a person key is accepted as a party filter, a raw id number is not', async () => {
    const row = await ctx.rt.db
      .selectFrom('trades')
      .select('seller_key')
      .where('trade_id', '=', 'X1')
      .executeTakeFirstOrThrow();
    expect(row.seller_key).toMatch(/^np_/);
    expect(tradeIds((await getAs(oa, `/v1/trades?party=${row.seller_key}`, o703.token)).body)).toEqual([
      'X7',
      'X6',
      'X1',
    ]);
    const raw = await getAs(oa, `/v1/trades?party=${P.id_number}`, o703.token);
    expect(raw.status).toBe(400);
    expect(raw.body.errors[0].pointer).toBe('/query/party');
    expect(raw.text).not.toContain(P.id_number);
  });
});

describe('GET /v1/trades — pagination', () => {
  it('walks every page without gaps or repeats, in the same order as one big page', async () => {
    const all = tradeIds((await getAs(oa, '/v1/trades?limit=500', city.token)).body);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor ? `?limit=2&cursor=${cursor}` : '?limit=2';
      const r = await getAs(oa, `/v1/trades${q}`, city.token);
      expect(r.status).toBe(200);
      expect(r.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...tradeIds(r.body));
      cursor = r.body.next_cursor;
      pages++;
    } while (cursor && pages < 10);
    expect(seen).toEqual(all);
    expect(pages).toBe(4);
  });

  it('cursors are canonical and keep microseconds', () => {
    const c = { atMicros: 1_791_246_600_123_456n, platform: 'jmrr', tradeId: 'T-1001.a "quoted" 号' };
    expect(decodeTradeCursor(encodeTradeCursor(c))).toEqual(c);
    expect(microsToIso(1_791_246_600_123_456n)).toBe('2026-10-06T00:30:00.123456Z');
    expect(microsToIso(-1n)).toBe('1969-12-31T23:59:59.999999Z');
    const raw = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    expect(decodeTradeCursor('MTIz')).toBeNull(); // "123": not a position
    expect(decodeTradeCursor(raw(['1', 'jmrr']))).toBeNull();
    expect(decodeTradeCursor(raw(['99999999999999999', 'jmrr', 'T']))).toBeNull(); // beyond 2999
    expect(decodeTradeCursor(raw(['1791246600123456', 'JMRR', 'T']))).toBeNull(); // no such platform code
    expect(decodeTradeCursor(raw(['1791246600123456', 'jmrr', '']))).toBeNull();
    expect(decodeTradeCursor(raw([1791246600123456, 'jmrr', 'T']))).toBeNull();
  });
});

describe('GET /v1/trades — hostile parameters answer 400 (or an empty list), never 5xx', () => {
  const cases: [string, string][] = [
    ['limit=0', '/query/limit'],
    ['limit=501', '/query/limit'],
    ['limit=-1', '/query/limit'],
    ['limit=1e3', '/query/limit'],
    ['limit=99999999999999999999999', '/query/limit'],
    ['limit=1&limit=2', '/query/limit'],
    ['cursor=bm90LWEtY3Vyc29y', '/query/cursor'],
    ['cursor=%27%20OR%201%3D1--', '/query/cursor'],
    ['from=2026-13-45T00:00:00%2B08:00', '/query/from'],
    ['from=2026-10-01', '/query/from'],
    ['from=0000-01-01T00:00:00Z', '/query/from'],
    ['to=2026-10-01T00:00:00', '/query/to'],
    ['from=2026-10-02T00:00:00Z&to=2026-10-01T00:00:00Z', '/query/to'],
    ['party=%27%20OR%201%3D1%20--', '/query/party'],
    ['seller=91440703MA4UJ2KX0A', '/query/seller'],
    ['buyer=np_%E9%92%A2', '/query/buyer'],
    ['material=FE_HEAVY%27%3B%20DROP%20TABLE%20trades%3B--', '/query/material'],
    ['material=%E5%BA%9F%E9%92%A2', '/query/material'],
    ['division=440703%20OR%201%3D1', '/query/division'],
    ['division=999999', '/query/division'],
    ['division=440000', '/query/division'],
    ['status=everything', '/query/status'],
  ];
  for (const [q, pointer] of cases) {
    it(q, async () => {
      const r = await getAs(oa, `/v1/trades?${q}`, o703.token);
      expect(r.status, r.text).toBe(400);
      expect(r.res.headers.get('content-type')).toBe('application/problem+json');
      expect(r.body.errors.map((e: AnyJson) => e.pointer)).toContain(pointer);
    });
  }

  it('unknown parameters are ignored; a well-formed but unknown party gives an empty list', async () => {
    const r = await getAs(oa, '/v1/trades?foo=%27%3BDROP&party=91350100M000100Y43', o703.token);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ items: [], next_cursor: null });
  });
});

describe('GET /v1/trades/{id}', () => {
  it('answers by internal id and by platform:trade_id, with versions, flows, documents and findings', async () => {
    const byId = await getAs(oa, `/v1/trades/${ids.X2}`, o705.token);
    const byKey = await getAs(oa, `/v1/trades/${platform.code}:X2`, o705.token);
    expect(byId.status).toBe(200);
    expect(byKey.body).toEqual(byId.body);
    const t = byId.body;
    expect(t).toMatchObject({
      id: ids.X2,
      trade_id: 'X2',
      version: 1,
      amount: '1760.00',
      lines: [
        {
          material: 'FE_HEAVY',
          quantity: '800.000',
          unit: 'kg',
          quantity_kg: '800.000',
          unit_price: '2.20',
          amount: '1760.00',
        },
      ],
      site: { code: 'S1', division: '440703', location: null },
      upstream: [],
    });
    expect(t.versions).toHaveLength(1);
    expect(t.versions[0]).toMatchObject({ version: 1, kind: 'created' });
    expect(t.versions[0].data.seller).toEqual({ kind: 'enterprise', key: S.uscc, name: S.name });
    expect(t.flows).toMatchObject({
      overall: 'pending',
      invoice_expected: true,
      funds: { status: 'matched', paid: '1760.00' },
      goods: { status: 'matched', weighed_kg: '800.000' },
      // The red invoice cancelled the blue one: nothing invoiced any more.
      invoice: { status: 'missing' },
    });
    expect(t.flows.funds.payments).toEqual([
      {
        payment_id: 'PAY-X2',
        basis: 'declared',
        paid_at: '2026-10-03T12:00:00+08:00',
        amount: '1760.00',
        channel: 'bank_transfer',
        serial_no: 'B20261003000017',
        trade_ids: ['X2'],
        payer: { account_name: M.name, account_no: '6222 **** **** 4010', party_key: M.uscc },
        payee: { account_name: S.name, account_no: '6222 **** **** 6543', party_key: S.uscc },
        reversal: null,
      },
    ]);
    expect(t.flows.goods.weighings[0]).toMatchObject({
      ticket_no: 'TK-X2-001',
      net_kg: '800.000',
      vehicle_plate: '粤J12345',
    });
    expect(t.flows.invoice.invoices).toEqual([
      expect.objectContaining({
        invoice_no: X2_INVOICE,
        kind: 'special',
        basis: 'declared',
        total: '1760.00',
        lines: [
          {
            material: 'FE_HEAVY',
            quantity_kg: '800.000',
            amount_ex_tax: '1708.74',
            tax_rate: '0.03',
            tax: '51.26',
          },
        ],
        reversals: [
          {
            invoice_no: '26442000000000000102',
            issued_at: '2026-10-06T10:00:00+08:00',
            total_ex_tax: '-1708.74',
            total_tax: '-51.26',
            total: '-1760.00',
          },
        ],
      }),
    ]);
    // The finding is about S, in 440703: the 440705 officer sees the trade (its buyer is theirs)
    // but not the finding; the 440703 officer sees both.
    expect(t.anomalies).toEqual([]);
    const seen703 = (await getAs(oa, `/v1/trades/${platform.code}:X2`, o703.token)).body;
    expect(seen703.anomalies).toEqual([
      expect.objectContaining({
        rule: 'THIRD_PARTY_PAYEE',
        severity: 'high',
        status: 'open',
        party_key: S.uscc,
      }),
    ]);
  });

  it('shows the version history of an amended trade and the state of a cancelled one', async () => {
    const x1 = (await getAs(oa, `/v1/trades/${platform.code}:X1`, o703.token)).body;
    expect(x1.version).toBe(2);
    expect(x1.quantity_kg).toBe('1200.000');
    expect(x1.versions.map((v: AnyJson) => [v.version, v.kind, v.data.lines[0].quantity])).toEqual([
      [1, 'created', '1000'],
      [2, 'amended', '1200'],
    ]);
    const x5 = (await getAs(oa, `/v1/trades/${platform.code}:X5`, o703.token)).body;
    expect(x5.status).toBe('cancelled');
    expect(x5.versions.map((v: AnyJson) => v.kind)).toEqual(['created', 'cancelled']);
    expect(x5.versions[1].data).toEqual({ trade_id: 'X5', version: 2, reason: 'entered twice' });
    expect(x5.anomalies).toEqual([]);
  });

  it('404 for a trade out of scope, exactly like an unknown one', async () => {
    const out = await getAs(oa, `/v1/trades/${platform.code}:X3`, o703.token);
    const unknown = await getAs(oa, `/v1/trades/${platform.code}:NOPE`, o703.token);
    expect(out.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect(out.body.title).toBe(unknown.body.title);
    expect((await getAs(oa, `/v1/trades/${ids.X3}`, o703.token)).status).toBe(404);
    expect((await getAs(oa, `/v1/trades/${ids.X3}`, o781.token)).status).toBe(200);
  });

  it('hostile ids answer 404 or 400, never 5xx', async () => {
    for (const id of [
      '0',
      '-1',
      '99999999999999999999999999',
      '9223372036854775807',
      encodeURIComponent("1' OR '1'='1"),
      encodeURIComponent(`${platform.code}:X2' OR 1=1 --`),
      encodeURIComponent(':X2'),
      encodeURIComponent(`${platform.code}:`),
      encodeURIComponent('废钢:交易'),
      '%00',
      `${platform.code}:%00`,
      `${platform.code}:X1%00`,
      `${platform.code}%00:X1`,
      `${platform.code}:%ED%A0%80`,
    ]) {
      const r = await getAs(oa, `/v1/trades/${id}`, o703.token);
      expect(r.status, id).toBe(404);
      const chain = await getAs(oa, `/v1/trades/${id}/chain`, o703.token);
      expect(chain.status, id).toBe(404);
    }
    expect((await getAs(oa, `/v1/trades/${'9'.repeat(300)}`, o703.token)).status).toBe(400);
    // An id number typed as a trade id is not echoed in the answer (DOMAIN.md 8).
    for (const path of [
      '/v1/trades/jmrr:11010519491231002X',
      '/v1/trades/jmrr:11010519491231002X/chain',
      '/v1/nothing/11010519491231002X',
    ]) {
      const r = await getAs(oa, path, o703.token);
      expect(r.status, path).toBe(404);
      expect(r.text, path).not.toContain('11010519491231002X');
    }
  });

  it('masks account numbers without pii; shows them with pii and audits the unmasking', async () => {
    const plain = await getAs(oa, `/v1/trades/${platform.code}:X1`, o703.token);
    for (const secret of [PERSON_ACCOUNT, '6222000000005555666', P.id_number]) {
      expect(plain.text).not.toContain(secret);
    }
    expect(plain.body.flows.funds.payments[0].payee.account_no).toBe('6217 **** **** 1222');
    const clear = await getAs(oa, `/v1/trades/${platform.code}:X1`, pii703.token);
    expect(clear.body.flows.funds.payments[0].payee.account_no).toBe(PERSON_ACCOUNT);
    // Id numbers are never part of a trade, even for pii tokens.
    expect(clear.text).not.toContain(P.id_number);

    const [masked] = await auditOf(ctx, o703.login).then((rows) =>
      rows.filter((r) => r.path === `/v1/trades/${platform.code}:X1`),
    );
    expect(masked!.pii_unmasked).toBe(false);
    const unmasked = (await auditOf(ctx, pii703.login)).at(-1)!;
    expect(unmasked).toMatchObject({
      endpoint: '/v1/trades/:id',
      status: 200,
      pii_unmasked: true,
      trades: [ids.X1],
    });
    expect(unmasked.parties).toEqual(expect.arrayContaining([S.uscc, clear.body.seller.key]));
  });

  it('the list never shows PII either', async () => {
    const r = await getAs(oa, '/v1/trades?limit=500', pii703.token);
    for (const secret of [PERSON_ACCOUNT, PAYER_ACCOUNT, PAYEE_ACCOUNT, P.id_number, Q.id_number]) {
      expect(r.text).not.toContain(secret);
    }
    expect((await auditOf(ctx, pii703.login)).at(-1)!.pii_unmasked).toBe(false);
  });
});

describe('audit subjects', () => {
  it('a list declares the listed trades and their parties; an empty list nothing', async () => {
    const o = await addOfficer(ctx, { divisions: ['440705'] });
    await getAs(oa, '/v1/trades', o.token);
    await getAs(oa, '/v1/trades?division=440783', o.token);
    const [listed, empty] = await auditOf(ctx, o.login);
    expect(listed!.trades).toEqual(expect.arrayContaining([ids.X2, ids.X4]));
    expect((listed!.trades as string[]).length).toBe(2);
    expect(listed!.parties).toEqual(expect.arrayContaining([S.uscc, M.uscc, T.uscc]));
    expect(empty!).toMatchObject({ status: 200, trades: [], parties: [] });
  });
});

describe('authentication and roles', () => {
  const paths = () => ['/v1/trades', `/v1/trades/${ids.X2}`, `/v1/trades/${ids.X2}/chain`];

  it('401 without a token, with a disabled officer’s token', async () => {
    const o = await addOfficer(ctx, { divisions: ['440703'] });
    await setOfficerStatus(ctx.rt.db, o.login, 'disabled');
    for (const p of paths()) {
      expect((await getAs(oa, p)).status, p).toBe(401);
      expect((await getAs(oa, p, o.token)).status, p).toBe(401);
    }
  });

  it('403 for auditors and admins, whatever the parameters; supervisors read', async () => {
    for (const p of paths()) {
      for (const o of [auditor, admin]) {
        const r = await getAs(oa, p, o.token);
        expect(r.status, `${o.role} ${p}`).toBe(403);
        expect(r.body.type).toBe('/problems/forbidden');
      }
      expect((await getAs(oa, p, sup703.token)).status).toBe(200);
    }
    // The role is checked before the parameters: no validation detail leaks to a forbidden role.
    expect((await getAs(oa, '/v1/trades?limit=0', auditor.token)).status).toBe(403);
  });
});

describe('OpenAPI', () => {
  it('documents every query operation with its id, parameters, errors and the bearer scheme', async () => {
    const app = createBaseApp({ log: ctx.rt.log, metrics: ctx.rt.metrics });
    const deps = { db: ctx.rt.db, keyring: ctx.rt.keyring };
    registerTrades(app, deps);
    registerParties(app, deps);
    app.doc31('/openapi.json', OPENAPI_INFO);
    const doc = await json(await app.request('/openapi.json'));
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    const ops: [string, string, string][] = [
      ['/v1/trades', 'listTrades', 'get'],
      ['/v1/trades/{id}', 'getTrade', 'get'],
      ['/v1/trades/{id}/chain', 'getTradeChain', 'get'],
      ['/v1/parties/{key}', 'getParty', 'get'],
      ['/v1/parties/{key}/summary', 'getPartySummary', 'get'],
      ['/v1/parties/{key}/summary/withholding', 'getPartyWithholding', 'get'],
    ];
    for (const [path, operationId, method] of ops) {
      const op = doc.paths[path]?.[method];
      expect(op?.operationId, path).toBe(operationId);
      expect(op.security).toEqual([{ bearer: [] }]);
      const errors = operationId === 'listTrades' ? ['400', '401', '403'] : ['400', '401', '403', '404'];
      expect(Object.keys(op.responses).sort()).toEqual(['200', ...errors, '429', '503']);
      expect(op.responses['200'].content['application/json'].example).toBeTruthy();
    }
    expect(doc.paths['/v1/trades'].get.parameters.map((p: AnyJson) => p.name).sort()).toEqual(
      ['buyer', 'cursor', 'division', 'from', 'limit', 'material', 'party', 'seller', 'status', 'to'].sort(),
    );
    // Every figure of the reference sheet documents its formula.
    const sheet = doc.components.schemas.ReferenceSheet;
    expect(JSON.stringify(sheet)).toContain('÷ (1 + levy_rate)');
    expect(sheet.properties.stock.items.properties.closing_kg.description).toContain('opening_kg + in_kg');
    const person = doc.components.schemas.WithholdingPerson;
    expect(person.properties.vat.description).toContain('half-up');
  });
});
