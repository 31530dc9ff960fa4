import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatMoney } from '../../src/domain/money';
import { evaluatePeriod } from '../../src/rules/engine';
import { tickDataClocks } from '../../src/rules/scheduling';
import { createTestContext, type TestContext } from '../support/context';
import {
  enterprise,
  envelope,
  paymentFor,
  person,
  pricedTrade as trade,
  weighingFor,
} from '../support/factories';
import { drain } from '../support/pipeline';

/**
 * Rules over the real pipeline where what they fire on depends on how the facts are loaded and
 * when a period is evaluated again: late time limits (MISSING_FLOW two months after the trade),
 * cancelled trades and tied invoice matches, and the trades the person rules report.
 *
 * One database for the file; each test has its own platform, parties and months.
 */
let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => ctx.close());

type Party = ReturnType<typeof person> | ReturnType<typeof enterprise>;
type Platform = { code: string; secret: string };

/** A blue invoice of one line; `rate` as '0.03'; the totals are given (excl. VAT, VAT). */
function invoice(
  no: string,
  o: {
    kind: 'special' | 'reverse';
    seller: Party;
    buyer: Party;
    tradeIds: string[];
    at: string;
    kg: number;
    ex: string;
    tax: string;
    rate: string;
    material?: string;
  },
) {
  const total = formatMoney(BigInt(o.ex.replace('.', '')) + BigInt(o.tax.replace('.', '')));
  return envelope(
    'invoice.issued',
    {
      invoice_no: no,
      kind: o.kind,
      issued_at: o.at,
      seller: o.seller,
      buyer: o.buyer,
      trade_ids: o.tradeIds,
      lines: [
        {
          material: o.material ?? 'FE_HEAVY',
          quantity: String(o.kg),
          unit: 'kg',
          amount_ex_tax: o.ex,
          tax_rate: o.rate,
          tax_amount: o.tax,
        },
      ],
      total_ex_tax: o.ex,
      total_tax: o.tax,
      total,
    },
    o.at,
  );
}

async function send(platform: Platform, events: unknown[]) {
  for (const e of events) {
    const res = await ctx.post(`/v1/ingest/${platform.code}/events`, JSON.stringify(e), {
      secret: platform.secret,
    });
    expect(res.status, JSON.stringify(await res.clone().json())).toBe(202);
  }
  await drain(ctx);
}

interface Row {
  rule: string;
  party_key: string;
  period: string;
  severity: string;
  status: string;
  trades: { id: string | null; platform: string; trade_id: string }[];
  documents: { kind: string; number: string }[];
  evidence: Record<string, unknown>;
}

/** Open findings of a rule in a period. */
async function findings(rule: string, period: string): Promise<Row[]> {
  return (await ctx.rt.db
    .selectFrom('anomalies')
    .select(['rule', 'party_key', 'period', 'severity', 'status', 'trades', 'documents', 'evidence'])
    .where('rule', '=', rule)
    .where('period', '=', period)
    .where('status', '<>', 'closed')
    .orderBy('id')
    .execute()) as unknown as Row[];
}

const tradeIdsOf = (r: Row) => r.trades.map((t) => t.trade_id);

describe('time limits that ripen two months after the record', () => {
  it('a trade on Jan 30 without an invoice gets its MISSING_FLOW (low) when the clock reaches Mar 1', async () => {
    const p = await ctx.addPlatform();
    const station = enterprise('江门回收站');
    const mill = enterprise('江门钢铁有限公司');
    const at = '2026-01-30T10:00:00+08:00';
    await send(p, [
      trade('J1', station, mill, { kg: 1000, fenPerKg: 350, at }),
      // The factories' envelopes carry an October timestamp: the data clock must stay in January.
      { ...paymentFor('JP1', 'J1', '3500.00', mill, station, '6222020200001111222', at), timestamp: at },
      { ...weighingFor('JW1', 'J1', 1000, at), timestamp: at },
    ]);
    expect(await findings('MISSING_FLOW', '2026-01')).toEqual([]);

    // Nothing of January arrives any more: a trade on Mar 1 moves the platform's clock 30 days
    // past J1 (Jan 30 + 30 days = Mar 1), in a month two after J1's.
    await send(p, [
      trade('J2', person('甲'), station, { kg: 100, fenPerKg: 300, at: '2026-03-01T12:00:00+08:00' }),
    ]);
    expect(
      (await findings('MISSING_FLOW', '2026-01')).map((f) => [
        f.severity,
        f.party_key,
        tradeIdsOf(f),
        f.evidence.missing_flow,
        f.evidence.due_at,
      ]),
    ).toEqual([['low', station.uscc, ['J1'], 'invoice', '2026-03-01T10:00:00+08:00']]);

    // The minutely tick marks the same months for each clock (January among them).
    await ctx.rt.db.deleteFrom('rule_dirty_periods').execute();
    expect((await tickDataClocks(ctx.rt.db)).map((m) => m.period)).toContain('2026-01');
  });
});

describe('DUPLICATE_DOCUMENT and cancelled trades', () => {
  const ticket = (id: string, tradeId: string, at: string) =>
    envelope(
      'weighing.recorded',
      {
        weighing_id: id,
        ticket_no: 'TK-DUP-1',
        trade_id: tradeId,
        site: { code: 'S1', division: '440703' },
        vehicle_plate: '粤J12345',
        gross_kg: '16000.000',
        tare_kg: '15000.000',
        net_kg: '1000.000',
        weighed_at: at,
      },
      at,
    );

  it('a ticket re-sent under the trade that replaced a cancelled one is no duplicate; reused on another trade it is', async () => {
    const p = await ctx.addPlatform();
    const station = enterprise('鹤山回收站');
    const seller = person('乙');
    await send(p, [
      trade('D1', seller, station, { kg: 1000, fenPerKg: 350, at: '2026-04-05T09:00:00+08:00' }),
      ticket('DW1', 'D1', '2026-04-05T09:30:00+08:00'),
    ]);
    await send(p, [
      envelope(
        'trade.cancelled',
        { trade_id: 'D1', version: 2, reason: 'entered twice' },
        '2026-04-05T10:00:00+08:00',
      ),
      trade('D1B', seller, station, { kg: 1000, fenPerKg: 350, at: '2026-04-05T09:00:00+08:00' }),
      ticket('DW2', 'D1B', '2026-04-05T10:05:00+08:00'),
    ]);
    expect(await findings('DUPLICATE_DOCUMENT', '2026-04')).toEqual([]);

    await send(p, [
      trade('D2', seller, station, { kg: 1000, fenPerKg: 350, at: '2026-04-06T09:00:00+08:00' }),
      ticket('DW3', 'D2', '2026-04-06T09:30:00+08:00'),
    ]);
    const [f, ...rest] = await findings('DUPLICATE_DOCUMENT', '2026-04');
    expect(rest).toEqual([]);
    expect([tradeIdsOf(f!), f!.documents, f!.evidence.records]).toEqual([
      ['D1B', 'D2'],
      [{ kind: 'weighing', number: 'TK-DUP-1' }],
      [`${p.code}:DW2`, `${p.code}:DW3`],
    ]);
  });
});

describe('INVOICE_WITHOUT_TRADE and tied matches', () => {
  it('an undeclared invoice between two identical trades matches them: not 票货分离', async () => {
    const p = await ctx.addPlatform();
    const seller = enterprise('台山分拣中心有限公司');
    const buyer = enterprise('台山钢铁有限公司');
    const at = '2026-07-02T09:00:00+08:00';
    const no = '26442000000000077001';
    await send(p, [
      trade('A1', seller, buyer, { kg: 1000, fenPerKg: 350, at }),
      trade('A2', seller, buyer, { kg: 1000, fenPerKg: 350, at }),
      invoice(no, {
        kind: 'special',
        seller,
        buyer,
        tradeIds: [],
        at: '2026-07-03T10:00:00+08:00',
        kg: 1000,
        ex: '3398.06',
        tax: '101.94',
        rate: '0.03',
      }),
    ]);
    const tie = await ctx.rt.db
      .selectFrom('ambiguous_matches')
      .select(['document_no', 'candidate_trade_ids'])
      .where('platform', '=', p.code)
      .execute();
    expect(tie.map((t) => [t.document_no, [...t.candidate_trade_ids].sort()])).toEqual([[no, ['A1', 'A2']]]);

    // 7 days after issue on the platform's clock.
    await send(p, [
      trade('A3', person('丙'), buyer, { kg: 100, fenPerKg: 300, at: '2026-07-11T09:00:00+08:00' }),
    ]);
    expect((await evaluatePeriod(ctx.rt.db, ctx.rt.keyring, '2026-07')).byRule.INVOICE_WITHOUT_TRADE).toBe(
      undefined,
    );
    expect(await findings('INVOICE_WITHOUT_TRADE', '2026-07')).toEqual([]);
  });
});

describe('person rules list the trades behind their figures', () => {
  it('REVERSE_INVOICE_LIMIT: the trades of the reverse invoices counted in the 12 months', async () => {
    const p = await ctx.addPlatform();
    const station = enterprise('开平回收站');
    const seller = person('丁');
    const rev = (no: string, tradeId: string, at: string, kg: number, ex: string, tax: string) =>
      invoice(no, {
        kind: 'reverse',
        seller,
        buyer: station,
        tradeIds: [tradeId],
        at,
        kg,
        ex,
        tax,
        rate: '0.01',
        material: 'CU',
      });
    await send(p, [
      // May: ¥99,000.00 excl. VAT; June: 2 × ¥2,079,207.92 → ¥4,257,415.84 over 12 months (> 80%).
      trade('R10', seller, station, {
        kg: 1000,
        fenPerKg: 9999,
        at: '2026-05-10T09:00:00+08:00',
        material: 'CU',
      }),
      rev('26442000000000088001', 'R10', '2026-05-11T09:00:00+08:00', 1000, '99000.00', '990.00'),
      trade('R2', seller, station, {
        kg: 40000,
        fenPerKg: 5250,
        at: '2026-06-10T09:00:00+08:00',
        material: 'CU',
      }),
      rev('26442000000000088002', 'R2', '2026-06-11T09:00:00+08:00', 40000, '2079207.92', '20792.08'),
      trade('R3', seller, station, {
        kg: 40000,
        fenPerKg: 5250,
        at: '2026-06-12T09:00:00+08:00',
        material: 'CU',
      }),
      rev('26442000000000088003', 'R3', '2026-06-13T09:00:00+08:00', 40000, '2079207.92', '20792.08'),
      // A sale without a reverse invoice is not in the figures.
      trade('R4', seller, station, {
        kg: 100,
        fenPerKg: 5250,
        at: '2026-06-14T09:00:00+08:00',
        material: 'CU',
      }),
    ]);
    const [f, ...rest] = (await findings('REVERSE_INVOICE_LIMIT', '2026-06')).filter(
      (r) => r.party_key === ctx.rt.keyring.personKey(seller.id_number),
    );
    expect(rest).toEqual([]);
    expect([f!.severity, f!.evidence.total_ex_vat]).toEqual(['medium', '4257415.84']);
    expect(f!.trades.map((t) => [t.platform, t.trade_id])).toEqual([
      [p.code, 'R10'],
      [p.code, 'R2'],
      [p.code, 'R3'],
    ]);
    expect(f!.trades.every((t) => t.id !== null)).toBe(true);
    // Evaluating again on the same facts changes nothing.
    const again = await evaluatePeriod(ctx.rt.db, ctx.rt.keyring, '2026-06');
    expect([again.detected, again.updated, again.reopened, again.closed]).toEqual([0, 0, 0, 0]);
  });

  it('INCOME_SPLITTING: the trades of the months in the band', async () => {
    const p = await ctx.addPlatform();
    const station = enterprise('恩平回收站');
    const seller = person('戊');
    const sale = (id: string, at: string, fenPerKg: number) =>
      trade(id, seller, station, { kg: 1000, fenPerKg, at, material: 'CU' });
    await send(p, [
      // ¥97,970.00 at a 1% levy is ¥97,000.00 excl. VAT; July in two sales.
      sale('S1', '2026-08-03T09:00:00+08:00', 200_000), // ¥200,000: above the band
      sale('S2', '2026-09-03T09:00:00+08:00', 9797),
      sale('S3', '2026-10-03T09:00:00+08:00', 4000),
      sale('S4', '2026-10-20T09:00:00+08:00', 5797),
      sale('S5', '2026-11-03T09:00:00+08:00', 9797),
    ]);
    const [f, ...rest] = (await findings('INCOME_SPLITTING', '2026-11')).filter(
      (r) => r.party_key === ctx.rt.keyring.personKey(seller.id_number),
    );
    expect(rest).toEqual([]);
    expect(f!.evidence.months_in_band).toBe(3);
    expect(f!.trades.map((t) => [t.platform, t.trade_id])).toEqual([
      [p.code, 'S2'],
      [p.code, 'S3'],
      [p.code, 'S4'],
      [p.code, 'S5'],
    ]);
    const again = await evaluatePeriod(ctx.rt.db, ctx.rt.keyring, '2026-11');
    expect([again.detected, again.updated, again.reopened, again.closed]).toEqual([0, 0, 0, 0]);
  });
});
