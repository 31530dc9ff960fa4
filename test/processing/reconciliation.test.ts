import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildChain } from '../../src/chains/chain.service';
import { createTestContext, type TestContext, uid } from '../support/context';
import { enterprise, envelope, person } from '../support/factories';
import { drain } from '../support/pipeline';

let ctx: TestContext;
let platform: { code: string; secret: string };

beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => ctx.close());

type Party = ReturnType<typeof person> | ReturnType<typeof enterprise>;

function trade(
  id: string,
  seller: Party,
  buyer: Party,
  kg: number,
  day: number,
  opts: {
    version?: number;
    upstream?: { trade_id: string; quantity: string; unit: 't' | 'kg' }[];
    material?: string;
  } = {},
) {
  const amount = ((kg * 220) / 100).toFixed(2);
  return envelope(opts.version && opts.version > 1 ? 'trade.amended' : 'trade.created', {
    trade_id: id,
    version: opts.version ?? 1,
    occurred_at: `2026-10-${String(day).padStart(2, '0')}T10:00:00+08:00`,
    seller,
    buyer,
    site: { code: 'S1', division: '440703' },
    lines: [
      { material: opts.material ?? 'FE_HEAVY', quantity: String(kg), unit: 'kg', unit_price: '2.20', amount },
    ],
    total_amount: amount,
    tax_treatment: seller.kind === 'natural_person' ? 'reverse_invoice' : 'simple_3',
    ...(opts.upstream ? { upstream: opts.upstream } : {}),
  });
}

async function send(...events: unknown[]) {
  for (const e of events) {
    const res = await ctx.post(`/v1/ingest/${platform.code}/events`, JSON.stringify(e), {
      secret: platform.secret,
    });
    expect(res.status, JSON.stringify(await res.clone().json())).toBe(202);
  }
  await drain(ctx);
}

async function allocationsOf(tradeId: string) {
  const rows = await ctx.rt.db
    .selectFrom('allocations')
    .select(['purchase_trade_id', 'basis', 'quantity_g'])
    .where('sale_platform', '=', platform.code)
    .where('sale_trade_id', '=', tradeId)
    .orderBy('purchase_trade_id')
    .orderBy('basis')
    .execute();
  return rows.map((r) => `${r.purchase_trade_id}:${r.basis}:${Number(r.quantity_g) / 1000}`);
}

async function unsourcedKg(tradeId: string) {
  const r = await ctx.rt.db
    .selectFrom('sale_results')
    .select('unsourced_g')
    .where('platform', '=', platform.code)
    .where('trade_id', '=', tradeId)
    .executeTakeFirst();
  return r ? Number(r.unsourced_g) / 1000 : null;
}

describe('allocation worked by hand', () => {
  // Fresh parties for every test: a party's stream spans all platforms.
  let station: ReturnType<typeof enterprise>;
  let mill: ReturnType<typeof enterprise>;
  let a: Party;
  let b: Party;
  let c: Party;
  beforeEach(() => {
    station = enterprise('蓬江绿源回收站');
    mill = enterprise('江门钢铁', '440705');
    [a, b, c] = [person('甲'), person('乙'), person('丙')];
  });

  it('FIFO across several purchases, then an unsourced remainder', async () => {
    platform = await ctx.addPlatform();
    await send(
      trade('P1', a, station, 1000, 1),
      trade('P2', b, station, 2000, 2),
      trade('P3', c, station, 500, 3),
      // Sent before the sales' purchases are complete on purpose: order must not matter.
      trade('Y', station, mill, 1500, 5),
      trade('X', station, mill, 2500, 4),
    );
    expect(await allocationsOf('X')).toEqual(['P1:fifo:1000', 'P2:fifo:1500']);
    expect(await allocationsOf('Y')).toEqual(['P2:fifo:500', 'P3:fifo:500']);
    expect(await unsourcedKg('X')).toBe(0);
    expect(await unsourcedKg('Y')).toBe(500);
  });

  it('declared provenance is reserved before FIFO', async () => {
    platform = await ctx.addPlatform();
    await send(
      trade('P1', a, station, 1000, 1),
      trade('P2', b, station, 2000, 2),
      trade('X', station, mill, 2500, 4, { upstream: [{ trade_id: 'P2', quantity: '1', unit: 't' }] }),
    );
    expect(await allocationsOf('X')).toEqual(['P1:fifo:1000', 'P2:declared:1000', 'P2:fifo:500']);
  });

  it('an amendment that shrinks a purchase moves the shortfall to later sales as unsourced; a cancellation too', async () => {
    platform = await ctx.addPlatform();
    await send(
      trade('P1', a, station, 1000, 1),
      trade('P2', b, station, 2000, 2),
      trade('P3', c, station, 500, 3),
      trade('X', station, mill, 2500, 4),
      trade('Y', station, mill, 1500, 5),
    );
    await send(trade('P1', a, station, 600, 1, { version: 2 }));
    expect(await allocationsOf('X')).toEqual(['P1:fifo:600', 'P2:fifo:1900']);
    expect(await allocationsOf('Y')).toEqual(['P2:fifo:100', 'P3:fifo:500']);
    expect(await unsourcedKg('Y')).toBe(900);

    await send(envelope('trade.cancelled', { trade_id: 'P3', version: 2, reason: 'entered twice' }));
    expect(await allocationsOf('Y')).toEqual(['P2:fifo:100']);
    expect(await unsourcedKg('Y')).toBe(1400);
    const p3 = await ctx.rt.db
      .selectFrom('trades')
      .select('status')
      .where('trade_id', '=', 'P3')
      .where('platform', '=', platform.code)
      .executeTakeFirstOrThrow();
    expect(p3.status).toBe('cancelled');
  });

  it('chains: upstream to the natural persons with origins by mass balance, downstream to the end user', async () => {
    platform = await ctx.addPlatform();
    const sorting = enterprise('分拣中心', '440704');
    await send(
      envelope('party.registered', {
        uscc: station.uscc,
        name: station.name,
        division: '440703',
        taxpayer_kind: 'general',
        established_on: '2018-01-01',
        roles: ['recycler'],
      }),
      envelope('party.registered', {
        uscc: sorting.uscc,
        name: sorting.name,
        division: '440704',
        taxpayer_kind: 'general',
        established_on: '2018-01-01',
        roles: ['sorting_center'],
      }),
      trade('P1', a, station, 1000, 1),
      trade('P2', b, station, 1000, 2),
      trade('S1', station, sorting, 2500, 3), // 500 kg unsourced
      trade('M1', sorting, mill, 2000, 4),
    );
    const ref = { platform: platform.code, trade_id: 'M1' };
    const chain = await buildChain(ctx.rt.db, ref, { direction: 'upstream', maxDepth: 10 });
    expect(chain.nodes.map((n) => `${n.trade_id}@${n.depth}`).sort()).toEqual([
      'M1@0',
      'P1@2',
      'P2@2',
      'S1@1',
    ]);
    expect(chain.edges).toHaveLength(3);
    // M1's 2000 kg come from S1, which is 80% persons (2000 of 2500 kg) and 20% unsourced.
    expect(chain.origins).toEqual({
      natural_person_kg: '1600.000',
      enterprise_kg: '0.000',
      unsourced_kg: '400.000',
    });
    const down = await buildChain(
      ctx.rt.db,
      { platform: platform.code, trade_id: 'P1' },
      { direction: 'downstream', maxDepth: 10 },
    );
    expect(down.nodes.map((n) => n.trade_id).sort()).toEqual(['M1', 'P1', 'S1']);
    const shallow = await buildChain(ctx.rt.db, ref, { direction: 'upstream', maxDepth: 1 });
    expect(shallow.truncated).toBe(true);
    expect(shallow.nodes.map((n) => n.trade_id).sort()).toEqual(['M1', 'S1']);
  });
});

describe('flows', () => {
  const station = enterprise('新会回收站', '440705');
  const mill = enterprise('新会钢厂', '440705');

  async function flowsOf(tradeId: string) {
    return ctx.rt.db
      .selectFrom('trade_flows')
      .selectAll()
      .where('platform', '=', platform.code)
      .where('trade_id', '=', tradeId)
      .executeTakeFirstOrThrow();
  }

  it('links declared documents, matches an undeclared payment, and nets a red-letter invoice', async () => {
    platform = await ctx.addPlatform();
    const t = trade('T1', station, mill, 10_000, 6); // 22,000.00
    const payment = envelope('payment.made', {
      payment_id: uid('PAY'),
      trade_ids: [],
      paid_at: '2026-10-07T10:00:00+08:00',
      amount: '22000.00',
      channel: 'bank_transfer',
      payer: { account_name: mill.name, account_no: '6222000000000001', party: mill },
      payee: { account_name: station.name, account_no: '6222000000000002', party: station },
    });
    const weighing = envelope('weighing.recorded', {
      weighing_id: uid('W'),
      ticket_no: uid('TK'),
      trade_id: 'T1',
      site: { code: 'S1', division: '440705' },
      vehicle_plate: '粤J12345',
      gross_kg: '25010.000',
      tare_kg: '15000.000',
      net_kg: '10010.000',
      weighed_at: '2026-10-06T09:00:00+08:00',
    });
    const invoiceNo = '26442000000000000001';
    const invoice = envelope('invoice.issued', {
      invoice_no: invoiceNo,
      kind: 'special',
      issued_at: '2026-10-08T10:00:00+08:00',
      seller: station,
      buyer: mill,
      trade_ids: ['T1'],
      lines: [
        {
          material: 'FE_HEAVY',
          quantity: '10',
          unit: 't',
          amount_ex_tax: '21359.22',
          tax_rate: '0.03',
          tax_amount: '640.78',
        },
      ],
      total_ex_tax: '21359.22',
      total_tax: '640.78',
      total: '22000.00',
    });
    await send(payment, weighing, invoice, t);
    let f = await flowsOf('T1');
    expect([f.payment_status, f.weighing_status, f.invoice_status, f.overall]).toEqual([
      'matched',
      'matched',
      'matched',
      'reconciled',
    ]);

    await send(
      envelope('invoice.reversed', {
        invoice_no: '26442000000000000002',
        original_invoice_no: invoiceNo,
        issued_at: '2026-10-09T10:00:00+08:00',
        total_ex_tax: '-21359.22',
        total_tax: '-640.78',
        total: '-22000.00',
      }),
    );
    f = await flowsOf('T1');
    expect(f.invoice_status).toBe('missing');
    expect(f.overall).toBe('pending');
  });

  it('flags an overpayment and a wrong payee as mismatch, with the differences', async () => {
    platform = await ctx.addPlatform();
    const pay = (amount: string, payee: string) =>
      envelope('payment.made', {
        payment_id: uid('PAY'),
        trade_ids: ['T2'],
        paid_at: '2026-10-07T10:00:00+08:00',
        amount,
        channel: 'bank_transfer',
        payer: { account_name: mill.name, account_no: '6222000000000001' },
        payee: { account_name: payee, account_no: '6222000000000009' },
      });
    await send(trade('T2', station, mill, 1000, 6), pay('1100.00', station.name));
    let f = await flowsOf('T2');
    expect(f.payment_status).toBe('partial');
    await send(pay('2000.00', '某第三人'));
    f = await flowsOf('T2');
    expect(f.payment_status).toBe('mismatch');
    expect(f.overall).toBe('discrepant');
    const diff = f.differences as { amount: { paid: string }; party: { actual: string }[] };
    expect(diff.amount.paid).toBe('3100.00');
    expect(diff.party[0]!.actual).toBe('某第三人');
  });

  it('an invoice for the whole amount but half the goods is a mismatch; one for half of both is partial', async () => {
    platform = await ctx.addPlatform();
    // 1,000 kg at ¥2.20: ¥2,200.00; weight tolerance max(20 kg, 1%) = 20 kg.
    const invoice = (no: string, tradeId: string, kg: string, ex: string, tax: string, total: string) =>
      envelope('invoice.issued', {
        invoice_no: no,
        kind: 'special',
        issued_at: '2026-10-08T10:00:00+08:00',
        seller: station,
        buyer: mill,
        trade_ids: [tradeId],
        lines: [
          {
            material: 'FE_HEAVY',
            quantity: kg,
            unit: 'kg',
            amount_ex_tax: ex,
            tax_rate: '0.03',
            tax_amount: tax,
          },
        ],
        total_ex_tax: ex,
        total_tax: tax,
        total,
      });
    await send(
      trade('T3', station, mill, 1000, 6),
      trade('T4', station, mill, 1000, 6),
      invoice('26442000000000000031', 'T3', '500', '2135.92', '64.08', '2200.00'),
      invoice('26442000000000000041', 'T4', '500', '1067.96', '32.04', '1100.00'),
    );
    const whole = await flowsOf('T3');
    expect([whole.invoice_status, whole.overall]).toEqual(['mismatch', 'discrepant']);
    expect((whole.differences as { invoice_quantity: unknown }).invoice_quantity).toEqual({
      trade_kg: '1000.000',
      invoiced_kg: '500.000',
      difference_kg: '-500.000',
      tolerance_kg: '20.000',
    });
    const half = await flowsOf('T4');
    expect([half.invoice_status, half.overall]).toEqual(['partial', 'pending']);
  });

  it('money paid by a party other than the buyer is a wrong party: mismatch', async () => {
    platform = await ctx.addPlatform();
    const other = enterprise('代付公司', '440703');
    const pay = (tradeId: string, payer: Party) =>
      envelope('payment.made', {
        payment_id: uid('PAY'),
        trade_ids: [tradeId],
        paid_at: '2026-10-07T10:00:00+08:00',
        amount: '2200.00',
        channel: 'bank_transfer',
        payer: { account_name: payer.name, account_no: '6222000000000001', party: payer },
        payee: { account_name: station.name, account_no: '6222000000000002', party: station },
      });
    await send(trade('T5', station, mill, 1000, 6), trade('T6', station, mill, 1000, 6));
    await send(pay('T5', other), pay('T6', mill));
    const third = await flowsOf('T5');
    expect([third.payment_status, third.overall]).toEqual(['mismatch', 'discrepant']);
    expect((third.differences as { party: unknown }).party).toEqual([
      { flow: 'payment', document: expect.any(String), expected: mill.uscc, actual: other.uscc },
    ]);
    expect((await flowsOf('T6')).payment_status).toBe('matched');
  });
});
