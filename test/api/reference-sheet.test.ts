import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, createPool } from '../../src/db/database';
import {
  dailyRates,
  periodBounds,
  receivedInvoiceFacts,
  sheetFacts,
  sheetFromFacts,
} from '../../src/domain/reference-sheet';
import { setOfficerStatus } from '../../src/repositories/officers.repository';
import { loadReferenceSheetData, loadWholeStreams } from '../../src/repositories/parties-query.repository';
import { type AnyJson, createTestContext, type TestContext } from '../support/context';
import { enterprise, envelope, paymentFor, person, weighingFor } from '../support/factories';
import { addOfficer, type OfficerApp, type TestOfficer } from '../support/officers';
import { loadSheetRows } from '../support/sheet-rows';
import { auditOf, buildQueryApp, getAs, push } from './query-app';

/**
 * The VAT reference sheet of a recycler R for October 2026, end to end: signed events through
 * ingestion, the real processing (flows, allocation), then GET /v1/parties/{R}/summary. Every
 * expected figure is worked out by hand in the comments.
 *
 *   September   S0a  A → R  FE_HEAVY 1,000 kg    2,200.00  reverse_invoice   09-10
 *               S0b  R → M  FE_HEAVY 1,500 kg    3,600.00  simple_3          09-20  (500 kg unsourced)
 *               E → R special invoice 1,130.00 (1,000.00 + 130.00 at 13%)   09-25
 *   October     T1   A → R  CU       2,000 kg  110,000.00  reverse_invoice   10-01  paid, weighed, reverse invoice
 *               T2   B → R  FE_HEAVY 1,000 kg    2,200.00  reverse_invoice   10-02  paid
 *               T3   R → M  FE_HEAVY   800 kg    1,920.00  simple_3          10-05  paid, weighed, special invoice
 *               T4   R → M  FE_HEAVY   500 kg    1,200.00  simple_3          10-06
 *               T5   B → R  FE_HEAVY   700 kg    1,540.00  reverse_invoice   10-20
 *               red invoice −1,130.00 reversing E's September invoice       10-10
 *   November    T6   A → R  FE_HEAVY   100 kg      220.00  (outside the period)
 */

let ctx: TestContext;
let oa: OfficerApp;
let platform: { code: string; secret: string };

/** DOMAIN.md's mass balance on every stock row: opening + in − out = closing; out + unsourced = sold. */
function expectMassBalance(stock: AnyJson[]): void {
  const g = (kg: string) => BigInt(kg.replace('.', ''));
  for (const row of stock) {
    expect(g(row.opening_kg) + g(row.in_kg) - g(row.out_kg), row.material).toBe(g(row.closing_kg));
    expect(g(row.out_kg) + g(row.unsourced_out_kg), row.material).toBe(g(row.sold_kg));
  }
}

const R = enterprise('蓬江绿源回收站', '440703');
const M = enterprise('新会钢铁', '440705');
const E = enterprise('江海机械厂', '440704');
const A = person('甲', '440703');
const B = person('乙', '440703');
const X = enterprise('台山再生资源', '440781');
const Y = person('丁', '440781');

type Party = typeof R | typeof A;

function trade(
  id: string,
  seller: Party,
  buyer: Party,
  material: string,
  kg: number,
  unitPrice: string,
  amount: string,
  at: string,
) {
  return envelope('trade.created', {
    trade_id: id,
    version: 1,
    occurred_at: at,
    seller,
    buyer,
    site: { code: 'S1', division: '440703' },
    lines: [{ material, quantity: String(kg), unit: 'kg', unit_price: unitPrice, amount }],
    total_amount: amount,
    tax_treatment: seller.kind === 'natural_person' ? 'reverse_invoice' : 'simple_3',
  });
}

function invoice(
  no: string,
  kind: string,
  seller: Party,
  buyer: Party,
  tradeIds: string[],
  line: { material: string; t: string; ex: string; rate: string; tax: string },
  total: string,
  at: string,
) {
  return envelope('invoice.issued', {
    invoice_no: no,
    kind,
    issued_at: at,
    seller,
    buyer,
    trade_ids: tradeIds,
    lines: [
      {
        material: line.material,
        quantity: line.t,
        unit: 't',
        amount_ex_tax: line.ex,
        tax_rate: line.rate,
        tax_amount: line.tax,
      },
    ],
    total_ex_tax: line.ex,
    total_tax: line.tax,
    total,
  });
}

const A_ACCOUNT = '6217000000002222333';
let o703: TestOfficer;
let o705: TestOfficer;
let rSheet: AnyJson;
let aKey: string;
let bKey: string;

beforeAll(async () => {
  ctx = await createTestContext();
  oa = buildQueryApp(ctx);
  platform = await ctx.addPlatform();
  await push(
    ctx,
    platform,
    envelope('party.registered', {
      uscc: R.uscc,
      name: R.name,
      division: '440703',
      taxpayer_kind: 'general',
      established_on: '2019-06-18',
      recycling_filing_no: 'JM-2019-0031',
      roles: ['recycler'],
    }),
    trade('S0a', A, R, 'FE_HEAVY', 1000, '2.20', '2200.00', '2026-09-10T10:00:00+08:00'),
    trade('S0b', R, M, 'FE_HEAVY', 1500, '2.40', '3600.00', '2026-09-20T10:00:00+08:00'),
    invoice(
      '26442000000000000201',
      'special',
      E,
      R,
      [],
      { material: 'FE_HEAVY', t: '0.5', ex: '1000.00', rate: '0.13', tax: '130.00' },
      '1130.00',
      '2026-09-25T10:00:00+08:00',
    ),
    trade('T1', A, R, 'CU', 2000, '55.00', '110000.00', '2026-10-01T10:00:00+08:00'),
    trade('T2', B, R, 'FE_HEAVY', 1000, '2.20', '2200.00', '2026-10-02T10:00:00+08:00'),
    trade('T3', R, M, 'FE_HEAVY', 800, '2.40', '1920.00', '2026-10-05T10:00:00+08:00'),
    trade('T4', R, M, 'FE_HEAVY', 500, '2.40', '1200.00', '2026-10-06T10:00:00+08:00'),
    trade('T5', B, R, 'FE_HEAVY', 700, '2.20', '1540.00', '2026-10-20T10:00:00+08:00'),
    trade('T6', A, R, 'FE_HEAVY', 100, '2.20', '220.00', '2026-11-01T00:00:00+08:00'),
    paymentFor('PT1', 'T1', '110000.00', R, A, A_ACCOUNT, '2026-10-01T12:00:00+08:00'),
    paymentFor('PT2', 'T2', '2200.00', R, B, '6217000000004444555', '2026-10-02T12:00:00+08:00'),
    paymentFor('PT3', 'T3', '1920.00', M, R, '6222000000000000009', '2026-10-05T12:00:00+08:00'),
    weighingFor('WT1', 'T1', 2000, '2026-10-01T09:00:00+08:00'),
    weighingFor('WT3', 'T3', 800, '2026-10-05T09:00:00+08:00'),
    // The reverse invoice R issues for A: 110,000.00 = 108,910.89 + 1,089.11 (1%).
    invoice(
      '26442000000000000202',
      'reverse',
      A,
      R,
      ['T1'],
      { material: 'CU', t: '2', ex: '108910.89', rate: '0.01', tax: '1089.11' },
      '110000.00',
      '2026-10-01T15:00:00+08:00',
    ),
    // R's own sale T3: 1,920.00 = 1,864.08 + 55.92 (3%).
    invoice(
      '26442000000000000203',
      'special',
      R,
      M,
      ['T3'],
      { material: 'FE_HEAVY', t: '0.8', ex: '1864.08', rate: '0.03', tax: '55.92' },
      '1920.00',
      '2026-10-06T10:00:00+08:00',
    ),
    envelope('invoice.reversed', {
      invoice_no: '26442000000000000204',
      original_invoice_no: '26442000000000000201',
      issued_at: '2026-10-10T10:00:00+08:00',
      total_ex_tax: '-1000.00',
      total_tax: '-130.00',
      total: '-1130.00',
    }),
  );
  // Apart from R (its figures above stay as they are), trades of shapes the worked example lacks,
  // for the test that checks the SQL sums against their definition: a multi-line trade with two
  // lines of one material, a self-trade, and a reverse-invoiced sale dated before reverse
  // invoicing had a rate (unrated).
  const lines = (...ls: [string, number, string, string][]) =>
    ls.map(([material, kg, unitPrice, amount]) => ({
      material,
      quantity: String(kg),
      unit: 'kg',
      unit_price: unitPrice,
      amount,
    }));
  const raw = (
    id: string,
    seller: Party,
    buyer: Party,
    ls: ReturnType<typeof lines>,
    total: string,
    treatment: string,
    at: string,
  ) =>
    envelope('trade.created', {
      trade_id: id,
      version: 1,
      occurred_at: at,
      seller,
      buyer,
      site: { code: 'S2', division: '440704' },
      lines: ls,
      total_amount: total,
      tax_treatment: treatment,
    });
  await push(
    ctx,
    platform,
    raw(
      'X1',
      Y,
      X,
      lines(
        ['FE_HEAVY', 100, '2.20', '220.00'],
        ['CU', 10, '55.00', '550.00'],
        ['FE_HEAVY', 50, '2.20', '110.00'],
      ),
      '880.00',
      'reverse_invoice',
      '2026-10-03T10:00:00+08:00',
    ),
    raw('X2', X, X, lines(['CU', 5, '60.00', '300.00']), '300.00', 'simple_3', '2026-10-04T10:00:00+08:00'),
    raw(
      'X3',
      Y,
      X,
      lines(['PAPER', 300, '1.60', '480.00']),
      '480.00',
      'reverse_invoice',
      '2024-03-10T10:00:00+08:00',
    ),
  );
  const keyOf = async (tradeId: string) =>
    (
      await ctx.rt.db
        .selectFrom('trades')
        .select('seller_key')
        .where('trade_id', '=', tradeId)
        .executeTakeFirstOrThrow()
    ).seller_key;
  aKey = await keyOf('T1');
  bKey = await keyOf('T2');
  // Findings of R (the rule engine is not part of this test): two count, two do not.
  const finding = (rule: string, status: string, severity: string, period: string, dedupe: string) => ({
    rule,
    dedupe_key: dedupe,
    rule_version: 1,
    severity,
    status,
    party_key: R.uscc,
    division: '440703',
    period,
    trades: '[]',
    summary_zh: '—',
    summary_en: '—',
    evidence: '{}',
    fingerprint: dedupe,
  });
  await ctx.rt.db
    .insertInto('anomalies')
    .values([
      finding('UNSOURCED_SALE', 'open', 'high', '2026-10', 'a'),
      finding('PRICE_DEVIATION', 'confirmed', 'medium', '2026-10', 'b'),
      finding('PRICE_DEVIATION', 'dismissed', 'high', '2026-10', 'c'),
      finding('UNSOURCED_SALE', 'open', 'high', '2026-09', 'd'),
    ])
    .execute();
  o703 = await addOfficer(ctx, { divisions: ['440703'], pii: true });
  o705 = await addOfficer(ctx, { divisions: ['440705'] });
  const r = await getAs(oa, `/v1/parties/${R.uscc}/summary?period=2026-10`, o703.token);
  expect(r.status, r.text).toBe(200);
  rSheet = r.body;
});
afterAll(async () => ctx.close());

describe('GET /v1/parties/{key}/summary — the worked example', () => {
  it('purchases and sales by material', () => {
    // Purchases (R buys): T1, T2, T5 — all from natural persons, all reverse-invoiced.
    //   CU        T1                 2,000 kg  110,000.00
    //   FE_HEAVY  T2 1,000 + T5 700 = 1,700 kg  2,200.00 + 1,540.00 = 3,740.00
    //   total     3 trades, 3,700 kg, 113,740.00 (T6 is in November: not counted)
    const all = (amount: string, kgs: string) => ({
      amount,
      quantity_kg: kgs,
      from_natural_persons: { amount, quantity_kg: kgs },
      reverse_invoiced: { amount, quantity_kg: kgs },
    });
    expect(rSheet.purchases).toEqual({
      total: { trades: 3, ...all('113740.00', '3700.000') },
      by_material: [
        { material: 'CU', trades: 1, ...all('110000.00', '2000.000') },
        { material: 'FE_HEAVY', trades: 2, ...all('3740.00', '1700.000') },
      ],
    });
    // Sales (R sells): T3 800 kg 1,920.00 + T4 500 kg 1,200.00 = 1,300 kg, 3,120.00.
    expect(rSheet.sales).toEqual({
      total: {
        trades: 2,
        amount: '3120.00',
        quantity_kg: '1300.000',
        reverse_invoiced: { amount: '0.00', quantity_kg: '0.000' },
      },
      by_material: [
        {
          material: 'FE_HEAVY',
          trades: 2,
          amount: '3120.00',
          quantity_kg: '1300.000',
          reverse_invoiced: { amount: '0.00', quantity_kg: '0.000' },
        },
      ],
    });
  });

  it('stock movement from the allocation (unsourced sales do not consume stock)', () => {
    // CU:       nothing before; in 2,000 (T1); out 0 → closing 2,000
    // FE_HEAVY: opening = 1,000 (S0a) − (1,500 (S0b) − 500 unsourced) = 0
    //           in = 1,000 (T2) + 700 (T5) = 1,700; out = 800 (T3) + 500 (T4) = 1,300
    //           T3 (10-05) takes 800 of T2's 1,000 → 200 left; T4 (10-06) takes those 200, 300 unsourced
    //           out (from stock) = 1,300 sold − 300 unsourced = 1,000
    //           closing = 0 + 1,700 − 1,000 = 700 (T5's 700 kg, bought after the sales)
    expectMassBalance(rSheet.stock);
    expect(rSheet.stock).toEqual([
      {
        material: 'CU',
        opening_kg: '0.000',
        in_kg: '2000.000',
        out_kg: '0.000',
        unsourced_out_kg: '0.000',
        sold_kg: '0.000',
        closing_kg: '2000.000',
        allocation_pending: false,
      },
      {
        material: 'FE_HEAVY',
        opening_kg: '0.000',
        in_kg: '1700.000',
        out_kg: '1000.000',
        unsourced_out_kg: '300.000',
        sold_kg: '1300.000',
        closing_kg: '700.000',
        allocation_pending: false,
      },
    ]);
  });

  it('flow coverage of the month’s trades', () => {
    // 5 trades, Σ total = 110,000 + 2,200 + 1,920 + 1,200 + 1,540 = 116,860.00
    // payment matched: T1, T2, T3 → 3/5 = 0.6000; (110,000 + 2,200 + 1,920) = 114,120 / 116,860 = 0.97655… → 0.9766
    // weighing matched: T1, T3 → 2/5 = 0.4000; (110,000 + 1,920) = 111,920 / 116,860 = 0.95772… → 0.9577
    // invoice expected on all 5 (reverse-invoiced persons, enterprise seller R); matched T1, T3 → same as weighing
    expect(rSheet.flow_coverage).toEqual({
      trades: 5,
      amount: '116860.00',
      payment: { matched_trades: 3, trade_ratio: '0.6000', amount_ratio: '0.9766' },
      weighing: { matched_trades: 2, trade_ratio: '0.4000', amount_ratio: '0.9577' },
      invoice: {
        expected_trades: 5,
        expected_amount: '116860.00',
        matched_trades: 2,
        trade_ratio: '0.4000',
        amount_ratio: '0.9577',
      },
    });
  });

  it('output tax on R’s sales by treatment', () => {
    // simple_3 at 0.03 (valid from 2022-03-01):
    //   T3 1,920.00 ÷ 1.03 = 1,864.0776… → 1,864.08; tax 1,920.00 − 1,864.08 = 55.92
    //   T4 1,200.00 ÷ 1.03 = 1,165.0485… → 1,165.05; tax 1,200.00 − 1,165.05 = 34.95
    //   Σ 3,120.00 → ex 3,029.13, tax 90.87
    expect(rSheet.tax.output_by_treatment).toEqual([
      {
        treatment: 'simple_3',
        levy_rate: '0.03',
        trades: 2,
        amount: '3120.00',
        amount_ex_tax: '3029.13',
        tax: '90.87',
        exempt: false,
      },
    ]);
    expect(rSheet.tax.output_total).toEqual({
      trades: 2,
      amount: '3120.00',
      amount_ex_tax: '3029.13',
      tax: '90.87',
    });
    expect(rSheet.tax.output_unrated).toEqual({ trades: 0, amount: '0.00' });
  });

  it('input tax on received invoices, net of the red invoice of the month', () => {
    // blue to R in October: the reverse invoice for T1 (108,910.89 + 1,089.11 = 110,000.00);
    //   R's own invoice for T3 is issued BY R: not received.
    // red in October reversing E's September invoice to R: −1,000.00 − 130.00 = −1,130.00
    // net: 107,910.89 ex, 1,089.11 − 130.00 = 959.11 tax, 108,870.00
    expect(rSheet.tax.input_on_received_invoices).toEqual({
      by_kind: [
        { kind: 'reverse', invoices: 1, amount_ex_tax: '108910.89', tax: '1089.11', amount: '110000.00' },
      ],
      blue: { invoices: 1, amount_ex_tax: '108910.89', tax: '1089.11', amount: '110000.00' },
      red: { invoices: 1, amount_ex_tax: '-1000.00', tax: '-130.00', amount: '-1130.00' },
      net: { invoices: 2, amount_ex_tax: '107910.89', tax: '959.11', amount: '108870.00' },
    });
  });

  it('VAT and individual income tax withheld under reverse invoicing', () => {
    // A: T1 110,000.00 ÷ 1.01 = 108,910.8910… → 108,910.89 > 100,000.00 → not exempt
    //    VAT = 108,910.89 × 1% = 1,089.1089 → 1,089.11; IIT = × 0.5% = 544.55445 → 544.55
    // B: T2 2,200.00 ÷ 1.01 = 2,178.2178… → 2,178.22; T5 1,540.00 ÷ 1.01 = 1,524.7524… → 1,524.75
    //    Σ 3,702.97 ≤ 100,000.00 → exempt, VAT 0.00; IIT = 3,702.97 × 0.5% = 18.51485 → 18.51
    // total: 3 trades, 113,740.00, ex 112,613.86, VAT 1,089.11, IIT 563.06
    const w = rSheet.tax.reverse_invoice_withholding;
    expect(w).toEqual({
      basis: 'purchases_from_natural_persons',
      persons: 2,
      exempt_persons: 1,
      persons_href: `/v1/parties/${R.uscc}/summary/withholding?period=2026-10`,
      total: { trades: 3, amount: '113740.00', amount_ex_tax: '112613.86', vat: '1089.11', iit: '563.06' },
      unrated: { trades: 0, amount: '0.00' },
    });
  });

  it('the withholding per person, listed apart (GET …/summary/withholding)', async () => {
    const r = await getAs(oa, rSheet.tax.reverse_invoice_withholding.persons_href, o703.token);
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({
      party: R.uscc,
      period: '2026-10',
      basis: 'purchases_from_natural_persons',
    });
    expect(r.body.next_cursor).toBeNull();
    const byKey = Object.fromEntries(r.body.items.map((p: AnyJson) => [p.party_key, p]));
    expect(r.body.items.map((p: AnyJson) => p.party_key)).toEqual([aKey, bKey].sort());
    expect(byKey[aKey]).toEqual({
      party_key: aKey,
      name: '甲',
      trades: 1,
      amount: '110000.00',
      amount_ex_tax: '108910.89',
      monthly_exemption: '100000.00',
      exempt: false,
      vat_rate: '0.01',
      vat: '1089.11',
      iit: '544.55',
    });
    expect(byKey[bKey]).toEqual({
      party_key: bKey,
      name: '乙',
      trades: 2,
      amount: '3740.00',
      amount_ex_tax: '3702.97',
      monthly_exemption: '100000.00',
      exempt: true,
      vat_rate: '0.01',
      vat: '0.00',
      iit: '18.51',
    });
    // The persons named are on the record; no id number or account in the answer.
    for (const secret of [A.id_number, B.id_number, A_ACCOUNT]) expect(r.text).not.toContain(secret);
    const entry = (await auditOf(ctx, o703.login)).at(-1)!;
    expect(entry).toMatchObject({ endpoint: '/v1/parties/:key/summary/withholding', status: 200 });
    expect([...(entry.parties as string[])].sort()).toEqual([R.uscc, aKey, bKey].sort());
  });

  it('the withholding rows page by person key with a cursor', async () => {
    const base = `/v1/parties/${R.uscc}/summary/withholding?period=2026-10&limit=1`;
    const first = await getAs(oa, base, o703.token);
    expect(first.body.items.map((p: AnyJson) => p.party_key)).toEqual([[aKey, bKey].sort()[0]]);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await getAs(oa, `${base}&cursor=${first.body.next_cursor}`, o703.token);
    expect(second.body.items.map((p: AnyJson) => p.party_key)).toEqual([[aKey, bKey].sort()[1]]);
    expect(second.body.next_cursor).toBeNull();
    // A month without withholding: no rows.
    const empty = await getAs(oa, `/v1/parties/${R.uscc}/summary/withholding?period=2027-01`, o703.token);
    expect(empty.body).toMatchObject({ items: [], next_cursor: null });
    for (const bad of [
      '&cursor=nope!',
      '&cursor=',
      `&cursor=${Buffer.from('x').toString('base64url')}`,
      '&limit=0',
    ]) {
      const r = await getAs(oa, `${base}${bad}`, o703.token);
      expect(r.status, bad).toBe(400);
    }
  });

  it('open and confirmed findings of the period, by rule', () => {
    expect(rSheet.anomalies).toEqual([
      { rule: 'PRICE_DEVIATION', open: 0, confirmed: 1, total: 1, highest_severity: 'medium' },
      { rule: 'UNSOURCED_SALE', open: 1, confirmed: 0, total: 1, highest_severity: 'high' },
    ]);
  });

  it('no PII in the sheet, even for a pii token; the audit names R, the only party shown', async () => {
    const r = await getAs(oa, `/v1/parties/${R.uscc}/summary?period=2026-10`, o703.token);
    for (const secret of [A.id_number, B.id_number, A_ACCOUNT]) expect(r.text).not.toContain(secret);
    const entry = (await auditOf(ctx, o703.login)).at(-1)!;
    expect(entry).toMatchObject({ endpoint: '/v1/parties/:key/summary', status: 200, pii_unmasked: false });
    expect(entry.parties).toEqual([R.uscc]);
  });
});

describe('GET /v1/parties/{key}/summary — other parties and months', () => {
  it('a natural person’s own sheet: withholding on its own reverse-invoiced sales', async () => {
    const r = await getAs(oa, `/v1/parties/${aKey}/summary?period=2026-10`, o703.token);
    expect(r.status).toBe(200);
    expect(r.body.party).toEqual({ key: aKey, kind: 'natural_person', name: '甲', division: '440703' });
    expect(r.body.sales.total).toMatchObject({ trades: 1, amount: '110000.00', quantity_kg: '2000.000' });
    expect(r.body.tax.reverse_invoice_withholding).toMatchObject({
      basis: 'own_sales',
      total: { trades: 1, amount_ex_tax: '108910.89', vat: '1089.11', iit: '544.55' },
    });
    expect(r.text).not.toContain(A.id_number);
  });

  it('September: the opening month of the FE_HEAVY stream', async () => {
    // FE_HEAVY: opening 0; in 1,000 (S0a); sold 1,500 (S0b), 500 unsourced, so out of stock 1,000;
    //           closing 0 + 1,000 − 1,000 = 0
    const r = await getAs(oa, `/v1/parties/${R.uscc}/summary?period=2026-09`, o703.token);
    expectMassBalance(r.body.stock);
    expect(r.body.stock).toEqual([
      {
        material: 'FE_HEAVY',
        opening_kg: '0.000',
        in_kg: '1000.000',
        out_kg: '1000.000',
        unsourced_out_kg: '500.000',
        sold_kg: '1500.000',
        closing_kg: '0.000',
        allocation_pending: false,
      },
    ]);
    // The September invoice from E: 1,000.00 + 130.00.
    expect(r.body.tax.input_on_received_invoices.blue).toEqual({
      invoices: 1,
      amount_ex_tax: '1000.00',
      tax: '130.00',
      amount: '1130.00',
    });
    expect(r.body.anomalies).toEqual([
      { rule: 'UNSOURCED_SALE', open: 1, confirmed: 0, total: 1, highest_severity: 'high' },
    ]);
  });

  const partyOf = (key: string) => ({
    key,
    kind: key.startsWith('np_') ? ('natural_person' as const) : ('enterprise' as const),
    name: '',
    division: '440703',
  });
  const PERIODS = ['2026-08', '2026-09', '2026-10', '2026-11', '2027-01'];

  it('stock from SQL sums equals allocating the whole stream, for every party and month', async () => {
    // The sheet reads settled streams as per-material sums; the whole-stream path (monthlyStock
    // over every entry, or allocateStream when pending) is the reference.
    for (const key of [R.uscc, M.uscc, aKey, bKey]) {
      for (const period of PERIODS) {
        const { startMs, endMs } = periodBounds(period);
        const bounds = { start: new Date(startMs), end: new Date(endMs) };
        const data = await loadReferenceSheetData(ctx.rt.db, partyOf(key), period, bounds);
        expect(data.stock.every((s) => 'sums' in s)).toBe(true);
        const whole = await loadWholeStreams(
          ctx.rt.db,
          key,
          bounds.end,
          data.stock.map((s) => s.material),
          new Set(),
        );
        const viaSums = sheetFromFacts({ party: partyOf(key), period, ...data });
        const viaWhole = sheetFromFacts({ party: partyOf(key), period, ...data, stock: whole });
        expect(viaSums.stock, `${key} ${period}`).toEqual(viaWhole.stock);
      }
    }
  });

  it('the SQL sums equal the sheet’s definition over the trade and invoice rows, for every party and month', async () => {
    // loadReferenceSheetData sums in PostgreSQL; sheetFacts and receivedInvoiceFacts define the
    // same sums over the rows. Also through a pool of one connection, where the two lanes of
    // reads share the one connection instead of a snapshot across two.
    const small = createDb(createPool({ url: ctx.databaseUrl, poolSize: 1 }));
    try {
      const yKey = (
        await ctx.rt.db
          .selectFrom('trades')
          .select('seller_key')
          .where('trade_id', '=', 'X1')
          .executeTakeFirstOrThrow()
      ).seller_key;
      for (const key of [R.uscc, M.uscc, E.uscc, X.uscc, aKey, bKey, yKey]) {
        for (const period of [...PERIODS, '2024-03']) {
          const { startMs, endMs } = periodBounds(period);
          const bounds = { start: new Date(startMs), end: new Date(endMs) };
          const party = partyOf(key);
          const data = await loadReferenceSheetData(ctx.rt.db, party, period, bounds);
          const rows = await loadSheetRows(ctx.rt.db, key, bounds);
          const label = `${key} ${period}`;
          expect(data.facts, label).toEqual(
            sheetFacts(party, rows.trades, dailyRates(data.treatments, period), rows.personSales),
          );
          expect(data.invoices, label).toEqual(receivedInvoiceFacts(rows.blue, rows.red));
          expect(await loadReferenceSheetData(small, party, period, bounds), label).toEqual(data);
          if (key === X.uscc && period === '2026-10') {
            // The multi-line trade counts once per material; the self-trade is a purchase and a
            // sale, and one trade for coverage.
            const cu = data.facts.purchases.byMaterial.find((m) => m.material === 'CU')!;
            expect(cu).toMatchObject({ trades: 2, all: { fen: 85_000n, g: 15_000n } });
            const fe = data.facts.purchases.byMaterial.find((m) => m.material === 'FE_HEAVY')!;
            expect(fe).toMatchObject({ trades: 1, all: { fen: 33_000n, g: 150_000n } });
            expect(data.facts.coverage.trades.n).toBe(2);
            expect(data.facts.sales.trades).toBe(1);
          }
          if (key === X.uscc && period === '2024-03') {
            expect(data.facts.withholding).toEqual([
              expect.objectContaining({ basisPoints: null, trades: 1 }),
            ]);
          }
        }
      }
    } finally {
      await small.destroy();
    }
  });

  it('a stream waiting for re-allocation is read whole and allocated on the spot', async () => {
    const { startMs, endMs } = periodBounds('2026-10');
    const bounds = { start: new Date(startMs), end: new Date(endMs) };
    await ctx.rt.db
      .insertInto('stream_dirty')
      .values({ party_key: R.uscc, material: 'FE_HEAVY', dirty_from: new Date(startMs) })
      .execute();
    try {
      const data = await loadReferenceSheetData(ctx.rt.db, partyOf(R.uscc), '2026-10', bounds);
      const fe = data.stock.find((s) => s.material === 'FE_HEAVY')!;
      expect('sums' in fe).toBe(false);
      expect(data.stock.find((s) => s.material === 'CU')).toHaveProperty('sums');
      const r = await getAs(oa, `/v1/parties/${R.uscc}/summary?period=2026-10`, o703.token);
      const row = r.body.stock.find((s: AnyJson) => s.material === 'FE_HEAVY');
      const before = rSheet.stock.find((s: AnyJson) => s.material === 'FE_HEAVY');
      expect(row).toEqual({ ...before, allocation_pending: true });
    } finally {
      await ctx.rt.db.deleteFrom('stream_dirty').where('party_key', '=', R.uscc).execute();
    }
  });

  it('a month without trades: carried stock, zeros and null ratios', async () => {
    const r = await getAs(oa, `/v1/parties/${R.uscc}/summary?period=2027-01`, o703.token);
    expect(r.status).toBe(200);
    expect(r.body.flow_coverage.payment).toEqual({
      matched_trades: 0,
      trade_ratio: null,
      amount_ratio: null,
    });
    // December's closing carries over: CU 2,000 kg; FE_HEAVY 700 + 100 (T6, November) = 800 kg.
    expect(r.body.stock.map((s: AnyJson) => [s.material, s.opening_kg, s.closing_kg])).toEqual([
      ['CU', '2000.000', '2000.000'],
      ['FE_HEAVY', '800.000', '800.000'],
    ]);
  });

  it('404 out of scope or for anything that is not a key (the sheet and its withholding rows)', async () => {
    for (const sub of ['summary', 'summary/withholding']) {
      expect((await getAs(oa, `/v1/parties/${R.uscc}/${sub}?period=2026-10`, o705.token)).status).toBe(404);
      for (const key of [A.id_number, 'np_x', encodeURIComponent("'; DROP TABLE parties; --")]) {
        const r = await getAs(oa, `/v1/parties/${key}/${sub}?period=2026-10`, o703.token);
        expect(r.status, key).toBe(404);
        expect(r.text).not.toContain(A.id_number);
      }
    }
  });

  it('a bad period is 400 with a pointer, never 5xx', async () => {
    for (const q of [
      '',
      '?period=',
      '?period=2026-13',
      '?period=2026-00',
      '?period=2026-1',
      '?period=26-10',
      '?period=0000-01',
      '?period=3000-01',
      '?period=2026-10-01',
      '?period=2026-10%27%3B%20DROP%20TABLE%20trades%3B--',
      '?period=%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96-10',
      '?period=2026-10&period=2026-11',
      `?period=${'9'.repeat(10000)}`,
    ]) {
      const r = await getAs(oa, `/v1/parties/${R.uscc}/summary${q}`, o703.token);
      expect(r.status, q).toBe(400);
      expect(r.body.errors[0].pointer, q).toBe('/query/period');
    }
  });

  it('401 without or with a disabled token; 403 for an auditor', async () => {
    const o = await addOfficer(ctx, { divisions: ['440703'] });
    await setOfficerStatus(ctx.rt.db, o.login, 'disabled');
    const auditor = await addOfficer(ctx, { role: 'auditor', divisions: ['440700'] });
    for (const sub of ['summary', 'summary/withholding']) {
      const path = `/v1/parties/${R.uscc}/${sub}?period=2026-10`;
      expect((await getAs(oa, path)).status).toBe(401);
      expect((await getAs(oa, path, o.token)).status).toBe(401);
      expect((await getAs(oa, path, auditor.token)).status).toBe(403);
    }
  });
});
