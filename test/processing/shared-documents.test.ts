import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context';
import { enterprise, envelope, tradeOf } from '../support/factories';
import { drain } from '../support/pipeline';

// Documents that cover several trades, and documents withdrawn by a reversal, worked by hand.
// E (a sorting centre) sells to M (a mill) under simple_3:
//   T1: FE_HEAVY 10 t at ¥2,200/t = ¥22,000.00     T2: FE_HEAVY 10 t at ¥2,000/t = ¥20,000.00
//   T3: CU 1 t at ¥60,000/t = ¥60,000.00

let ctx: TestContext;
const E = enterprise('江海分拣中心', '440704');
const M = enterprise('新会钢铁', '440705');

beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => ctx.close());

const trade = (id: string, material: string, t: string, price: string, amount: string) =>
  tradeOf(id, E, M, '2026-10-02T10:00:00+08:00', [[material, t, price, amount]], { unit: 't' });
const T1 = trade('T1', 'FE_HEAVY', '10', '2200.00', '22000.00');
const T2 = trade('T2', 'FE_HEAVY', '10', '2000.00', '20000.00');
const T3 = trade('T3', 'CU', '1', '60000.00', '60000.00');

const payment = (id: string, tradeIds: string[], amount: string, at = '2026-10-03T10:00:00+08:00') =>
  envelope('payment.made', {
    payment_id: id,
    trade_ids: tradeIds,
    paid_at: at,
    amount,
    channel: 'bank_transfer',
    payer: { account_name: M.name, account_no: '6222000000000000001', party: M },
    payee: { account_name: E.name, account_no: '6222000000000000002', party: E },
  });

type Line = [material: string, t: string, ex: string, tax: string];
const invoice = (no: string, tradeIds: string[], lines: Line[], totals: [string, string, string]) =>
  envelope('invoice.issued', {
    invoice_no: no,
    kind: 'special',
    issued_at: '2026-10-05T10:00:00+08:00',
    seller: E,
    buyer: M,
    trade_ids: tradeIds,
    lines: lines.map(([material, t, ex, tax]) => ({
      material,
      quantity: t,
      unit: 't',
      amount_ex_tax: ex,
      tax_rate: '0.03',
      tax_amount: tax,
    })),
    total_ex_tax: totals[0],
    total_tax: totals[1],
    total: totals[2],
  });

/** Sends each group of events, then processes everything, before the next group. */
async function run(...groups: unknown[][]): Promise<{ code: string }> {
  const platform = await ctx.addPlatform();
  for (const events of groups) {
    for (const e of events) {
      const res = await ctx.post(`/v1/ingest/${platform.code}/events`, JSON.stringify(e), {
        secret: platform.secret,
      });
      expect(res.status, await res.clone().text()).toBe(202);
    }
    await drain(ctx, { rules: false });
  }
  const states = await ctx.rt.db
    .selectFrom('inbound_events')
    .select(['state', 'last_error'])
    .where('platform', '=', platform.code)
    .execute();
  expect(states.filter((s) => s.state !== 'processed')).toEqual([]);
  return platform;
}

async function flow(platform: { code: string }, tradeId: string) {
  return ctx.rt.db
    .selectFrom('trade_flows')
    .select(['payment_status', 'invoice_status', 'paid_fen', 'invoiced_fen', 'invoiced_g', 'differences'])
    .where('platform', '=', platform.code)
    .where('trade_id', '=', tradeId)
    .executeTakeFirstOrThrow();
}

describe('a document covering several trades', () => {
  it('a payment that arrives before its trades is split by their totals once they are all there', async () => {
    const P = payment('P1', ['T1', 'T2'], '42000.00');
    const late = await run([P], [T1], [T2]);
    const inOrder = await run([T1, T2, P]);
    for (const p of [late, inOrder]) {
      expect(await flow(p, 'T1')).toMatchObject({ payment_status: 'matched', paid_fen: 2_200_000n });
      expect(await flow(p, 'T2')).toMatchObject({ payment_status: 'matched', paid_fen: 2_000_000n });
    }
  });

  it('an amendment of one trade moves the other trade’s share too', async () => {
    const P = payment('P1', ['T1', 'T2'], '42000.00');
    const bigger = envelope('trade.amended', {
      ...(T2.data as object),
      version: 2,
      lines: [{ material: 'FE_HEAVY', quantity: '10', unit: 't', unit_price: '2100.00', amount: '21000.00' }],
      total_amount: '21000.00',
    });
    const p = await run([T1, T2, P], [bigger]);
    // 42,000 split 22,000 : 21,000 → 21,488.37 and 20,511.63 (exact apportionment).
    expect(await flow(p, 'T1')).toMatchObject({ paid_fen: 2_148_837n });
    expect(await flow(p, 'T2')).toMatchObject({ paid_fen: 2_051_163n });
  });

  it('an invoice’s quantity goes to the trades by their grams of each material, not by amount', async () => {
    const I = invoice(
      '26442000000000000001',
      ['T1', 'T2'],
      [['FE_HEAVY', '20', '40776.70', '1223.30']],
      ['40776.70', '1223.30', '42000.00'],
    );
    const p = await run([T1, T2, I]);
    expect(await flow(p, 'T1')).toMatchObject({ invoice_status: 'matched', invoiced_g: 10_000_000n });
    expect(await flow(p, 'T2')).toMatchObject({ invoice_status: 'matched', invoiced_g: 10_000_000n });
  });

  it('an invoice of two materials for two trades gives each trade its own material (no 变票)', async () => {
    const I = invoice(
      '26442000000000000002',
      ['T1', 'T3'],
      [
        ['FE_HEAVY', '10', '21359.22', '640.78'],
        ['CU', '1', '58252.43', '1747.57'],
      ],
      ['79611.65', '2388.35', '82000.00'],
    );
    const p = await run([T1, T3, I]);
    const f1 = await flow(p, 'T1');
    expect(f1).toMatchObject({
      invoice_status: 'matched',
      invoiced_g: 10_000_000n,
      invoiced_fen: 2_200_000n,
    });
    expect(f1.differences).not.toHaveProperty('material');
    expect(await flow(p, 'T3')).toMatchObject({ invoice_status: 'matched', invoiced_g: 1_000_000n });
  });
});

describe('the payment window (DOMAIN.md 6: −1 day … +30 days)', () => {
  it('a declared payment of the right amount made outside it is a mismatch, with the time shown', async () => {
    const p = await run([
      T1,
      T2,
      payment('EARLY', ['T1'], '22000.00', '2026-09-30T09:59:59+08:00'),
      payment('LATE', ['T2'], '20000.00', '2026-11-01T10:00:01+08:00'),
    ]);
    const f1 = await flow(p, 'T1');
    expect(f1.payment_status).toBe('mismatch');
    expect(f1.differences).toMatchObject({
      time: [
        {
          flow: 'payment',
          document: 'EARLY',
          paid_at: '2026-09-30T01:59:59.000Z',
          earliest: '2026-10-01T02:00:00.000Z',
          latest: '2026-11-01T02:00:00.000Z',
        },
      ],
    });
    expect((await flow(p, 'T2')).payment_status).toBe('mismatch');
    // At the edges of the window: matched.
    const q = await run([
      T1,
      T2,
      payment('EDGE1', ['T1'], '22000.00', '2026-10-01T10:00:00+08:00'),
      payment('EDGE2', ['T2'], '20000.00', '2026-11-01T10:00:00+08:00'),
    ]);
    expect((await flow(q, 'T1')).payment_status).toBe('matched');
    expect((await flow(q, 'T2')).payment_status).toBe('matched');
  });
});

describe('red-letter reversals', () => {
  it('a partial reversal with lines takes its quantity off the invoice, not only its amount', async () => {
    const p = await run([
      T1,
      invoice(
        '26442000000000000031',
        ['T1'],
        [['FE_HEAVY', '10', '21359.22', '640.78']],
        ['21359.22', '640.78', '22000.00'],
      ),
      envelope('invoice.reversed', {
        invoice_no: '26442000000000000032',
        original_invoice_no: '26442000000000000031',
        issued_at: '2026-10-06T10:00:00+08:00',
        lines: [
          {
            material: 'FE_HEAVY',
            quantity: '-5',
            unit: 't',
            amount_ex_tax: '-10679.61',
            tax_rate: '0.03',
            tax_amount: '-320.39',
          },
        ],
        total_ex_tax: '-10679.61',
        total_tax: '-320.39',
        total: '-11000.00',
      }),
    ]);
    expect(await flow(p, 'T1')).toMatchObject({
      invoice_status: 'partial',
      invoiced_fen: 1_100_000n,
      invoiced_g: 5_000_000n,
    });
  });

  it('a red invoice beyond its blue one (DOMAIN.md 3: never) is a mismatch, with how far it goes', async () => {
    const p = await run([
      T1,
      invoice(
        '26442000000000000021',
        ['T1'],
        [['FE_HEAVY', '10', '21359.22', '640.78']],
        ['21359.22', '640.78', '22000.00'],
      ),
      envelope('invoice.reversed', {
        invoice_no: '26442000000000000022',
        original_invoice_no: '26442000000000000021',
        issued_at: '2026-10-06T10:00:00+08:00',
        total_ex_tax: '-22330.10',
        total_tax: '-669.90',
        total: '-23000.00',
      }),
    ]);
    const f = await flow(p, 'T1');
    expect(f.invoice_status).toBe('mismatch');
    expect(f.differences).toMatchObject({
      invoice_reversal: [{ document: '26442000000000000021', reversed_beyond: '1000.00' }],
    });
  });
});

describe('a withdrawn document takes part in no matching', () => {
  it('a reversed undeclared payment leaves the trade to the payment sent again', async () => {
    const p = await run(
      [T1, payment('U1', [], '22000.00', '2026-10-03T09:00:00+08:00')],
      [
        envelope('payment.reversed', {
          payment_id: 'U1',
          reversed_at: '2026-10-03T12:00:00+08:00',
          reason: '退回',
        }),
      ],
      [payment('U2', [], '22000.00', '2026-10-03T15:00:00+08:00')],
    );
    expect(await flow(p, 'T1')).toMatchObject({ payment_status: 'matched', paid_fen: 2_200_000n });
    const links = await ctx.rt.db
      .selectFrom('payment_links')
      .select('payment_id')
      .where('platform', '=', p.code)
      .execute();
    expect(links.map((l) => l.payment_id)).toEqual(['U2']);
  });

  it('a fully red-reversed undeclared invoice leaves the trade to the invoice issued again', async () => {
    const lines: Line[] = [['FE_HEAVY', '10', '21359.22', '640.78']];
    const totals: [string, string, string] = ['21359.22', '640.78', '22000.00'];
    const p = await run(
      [T1, invoice('26442000000000000011', [], lines, totals)],
      [
        envelope('invoice.reversed', {
          invoice_no: '26442000000000000012',
          original_invoice_no: '26442000000000000011',
          issued_at: '2026-10-06T10:00:00+08:00',
          total_ex_tax: '-21359.22',
          total_tax: '-640.78',
          total: '-22000.00',
        }),
      ],
      [invoice('26442000000000000013', [], lines, totals)],
    );
    expect(await flow(p, 'T1')).toMatchObject({ invoice_status: 'matched', invoiced_fen: 2_200_000n });
    const links = await ctx.rt.db
      .selectFrom('invoice_links')
      .select('invoice_no')
      .where('platform', '=', p.code)
      .execute();
    expect(links.map((l) => l.invoice_no)).toEqual(['26442000000000000013']);
  });
});
