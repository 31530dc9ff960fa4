import { describe, expect, it } from 'vitest';
import { circularTrading, passThrough, unsourcedSale } from '../../../src/domain/rules/stock-rules';
import { DAY_MS, periodWindow } from '../../../src/domain/rules/types';
import {
  allocation,
  cst,
  enterprise,
  HOUR_MS,
  kg,
  type Leg,
  line,
  MINUTE_MS,
  PLATFORM,
  parties,
  person,
  subject,
  trade,
  yuan,
} from './builders';

/** The stock and chain rules (DOMAIN.md section 7). */
const W = periodWindow('2026-10');
const R = enterprise('R', { roles: ['recycler'] });

describe('UNSOURCED_SALE', () => {
  const P = { min_kg: 500, min_share_basis_points: 200 };
  const ps = parties(R);
  // 50 t sold in October: 2% is 1,000 kg, above the 500 kg floor.
  const big = (unsourcedKg: string) => [
    { tradeId: 'S2', saleMs: cst(2026, 10, 20), quantityG: kg(20_000), unsourcedG: kg(unsourcedKg) },
    { tradeId: 'S1', saleMs: cst(2026, 10, 5), quantityG: kg(30_000), unsourcedG: 0n },
  ];
  const run = (sales: { tradeId: string; saleMs: number; quantityG: bigint; unsourcedG: bigint }[], p = ps) =>
    unsourcedSale(
      W,
      sales.map((s) => ({ partyKey: 'R', material: 'FE_HEAVY', platform: PLATFORM, ...s })),
      p,
      P,
    );

  it('more than 2% of the month’s sales unsourced (above 500 kg) is high, with the numbers', () => {
    const [f, ...rest] = run(big('1000.001'));
    expect(rest).toEqual([]);
    expect(subject(f!)).toEqual({
      rule: 'UNSOURCED_SALE',
      severity: 'high',
      party: 'R',
      period: '2026-10',
      trades: [`${PLATFORM}:S2`],
    });
    expect(f!.evidence).toEqual({
      material: 'FE_HEAVY',
      sold_kg: '50000.000',
      unsourced_kg: '1000.001',
      unsourced_share: '0.0200',
      threshold_kg: '1000.000',
      min_kg: 500,
      min_share: '0.0200',
    });
  });

  it('exactly 2% is nothing', () => {
    expect(run(big('1000'))).toEqual([]);
  });

  it('on small sales the 500 kg floor rules: exactly 500 kg is nothing, 500 kg + 1 g fires', () => {
    const small = (u: string) => [
      { tradeId: 'S1', saleMs: cst(2026, 10, 5), quantityG: kg(10_000), unsourcedG: kg(u) },
    ];
    expect(run(small('500'))).toEqual([]);
    expect(run(small('500.001')).map((f) => f.evidence.threshold_kg)).toEqual(['500.000']);
  });

  it('each material on its own; other months’ sales do not count', () => {
    const sales = [
      {
        partyKey: 'R',
        material: 'FE_HEAVY',
        platform: PLATFORM,
        tradeId: 'S1',
        saleMs: cst(2026, 10, 5),
        quantityG: kg(10_000),
        unsourcedG: kg(400),
      },
      {
        partyKey: 'R',
        material: 'CU',
        platform: PLATFORM,
        tradeId: 'S2',
        saleMs: cst(2026, 10, 6),
        quantityG: kg(10_000),
        unsourcedG: kg(400),
      },
      {
        partyKey: 'R',
        material: 'FE_HEAVY',
        platform: PLATFORM,
        tradeId: 'S3',
        saleMs: cst(2026, 9, 30, 23),
        quantityG: kg(10_000),
        unsourcedG: kg(400),
      },
    ];
    expect(unsourcedSale(W, sales, ps, P)).toEqual([]);
  });

  it('applies to trading enterprises (recyclers, sorting centres), not generators selling their own scrap', () => {
    const gen = parties(enterprise('R', { roles: ['generator'] }));
    expect(run(big('5000'), gen)).toEqual([]);
    const sorting = parties(enterprise('R', { roles: ['sorting_center'] }));
    expect(run(big('5000'), sorting)).toHaveLength(1);
    // A generator that also recycles may sell its own scrap: the generator role wins.
    const both = parties(enterprise('R', { roles: ['recycler', 'generator'] }));
    expect(run(big('5000'), both)).toEqual([]);
  });
});

describe('PASS_THROUGH', () => {
  const P = {
    min_cover_basis_points: 9_000,
    max_hours: 24,
    quantity_basis_points: 100,
    max_margin_basis_points: 200,
  };
  const ps = parties(R);
  const BOUGHT = cst(2026, 10, 10, 10);
  // Bought 10 t at ¥2.00/kg.
  const purchase: Leg = { tradeId: 'P1', atMs: BOUGHT, quantityG: kg(10_000), amountFen: yuan(20_000) };
  const sale = (over: Partial<Leg> = {}): Leg => ({
    tradeId: 'S1',
    atMs: BOUGHT + 24 * HOUR_MS - MINUTE_MS,
    quantityG: kg(10_000),
    amountFen: yuan(20_398),
    ...over,
  });
  const run = (s: Leg, covered = s.quantityG, p: Leg = purchase) =>
    passThrough(W, [allocation(s, p, covered)], ps, P);

  it('resold whole 23 h 59 min later at a 1.99% margin is high (过票), with the numbers', () => {
    const [f, ...rest] = run(sale());
    expect(rest).toEqual([]);
    expect(subject(f!)).toEqual({
      rule: 'PASS_THROUGH',
      severity: 'high',
      party: 'R',
      period: '2026-10',
      trades: [`${PLATFORM}:P1`, `${PLATFORM}:S1`],
    });
    expect(f!.evidence).toEqual({
      material: 'FE_HEAVY',
      purchase_trade: 'P1',
      sale_trade: 'S1',
      covered_share: '1.0000',
      hours_between: 23.98,
      purchase_kg: '10000.000',
      sale_kg: '10000.000',
      purchase_amount: '20000.00',
      sale_amount: '20398.00',
      margin: '0.0199',
      max_margin: '0.0200',
    });
  });

  it('exactly 24 h later is nothing', () => {
    expect(run(sale({ atMs: BOUGHT + 24 * HOUR_MS }))).toEqual([]);
    expect(run(sale({ atMs: BOUGHT + 24 * HOUR_MS - 1 }))).toHaveLength(1);
  });

  it('a 2% margin is nothing; ¥0.01 less fires; a loss fires', () => {
    expect(run(sale({ amountFen: yuan(20_400) }))).toEqual([]);
    expect(run(sale({ amountFen: yuan('20399.99') }))).toHaveLength(1);
    expect(run(sale({ amountFen: yuan(19_000) })).map((f) => f.evidence.margin)).toEqual(['-0.0500']);
  });

  it('90% covered by the one purchase fires; 1 g less is nothing', () => {
    expect(run(sale(), kg(9_000)).map((f) => f.evidence.covered_share)).toEqual(['0.9000']);
    expect(run(sale(), kg('8999.999'))).toEqual([]);
  });

  it('cover adds up over the declared and FIFO parts of the same purchase', () => {
    const s = sale();
    const rows = [allocation(s, purchase, kg(5_000)), allocation(s, purchase, kg(4_000))];
    expect(passThrough(W, rows, ps, P).map((f) => f.evidence.covered_share)).toEqual(['0.9000']);
  });

  it('quantities within 1% of the purchase fire; 1 g beyond is nothing', () => {
    // 10,100 kg at ¥2.00/kg (margin 0), 10,000 kg of it from P1 (99%).
    const within = sale({ quantityG: kg(10_100), amountFen: yuan(20_200) });
    expect(run(within, kg(10_000))).toHaveLength(1);
    const beyond = sale({ quantityG: kg('10100.001'), amountFen: yuan(20_200) });
    expect(run(beyond, kg(10_000))).toEqual([]);
  });

  it('a purchase after (or at) the sale is nothing; a sale of another month is nothing', () => {
    expect(run(sale({ atMs: BOUGHT }))).toEqual([]);
    const sept = { ...purchase, atMs: cst(2026, 9, 30, 12) };
    expect(run(sale({ atMs: cst(2026, 9, 30, 20) }), kg(10_000), sept)).toEqual([]);
  });
});

describe('CIRCULAR_TRADING', () => {
  const P = { window_days: 90, max_parties: 6 };
  const LATEST = cst(2026, 10, 15, 10);
  const E = (k: string) => enterprise(k);
  const deal = (id: string, from: string, to: string, atMs: number, material = 'FE_HEAVY') =>
    trade(id, {
      occurredMs: atMs,
      seller: E(from),
      buyer: E(to),
      lines: [line(material, kg(10_000), yuan(22_000))],
    });

  it('two enterprises selling each other the same material (对开) within 90 days: high, once per party', () => {
    const fs = circularTrading(
      W,
      [deal('T1', 'A', 'B', LATEST - 90 * DAY_MS), deal('T2', 'B', 'A', LATEST)],
      P,
    );
    expect(fs.map(subject)).toEqual(
      ['A', 'B'].map((party) => ({
        rule: 'CIRCULAR_TRADING',
        severity: 'high',
        party,
        period: '2026-10',
        trades: [`${PLATFORM}:T1`, `${PLATFORM}:T2`],
      })),
    );
    expect(fs[0]!.evidence).toEqual({
      material: 'FE_HEAVY',
      parties: ['A', 'B'],
      cycle_length: 2,
      span_days: 90,
      window_days: 90,
    });
  });

  it('the 90-day span is inclusive: 90 days + 1 min, or 91 days, is nothing', () => {
    expect(
      circularTrading(
        W,
        [deal('T1', 'A', 'B', LATEST - 90 * DAY_MS - MINUTE_MS), deal('T2', 'B', 'A', LATEST)],
        P,
      ),
    ).toEqual([]);
    expect(
      circularTrading(W, [deal('T1', 'A', 'B', LATEST - 91 * DAY_MS), deal('T2', 'B', 'A', LATEST)], P),
    ).toEqual([]);
  });

  it('a ring of 3 (环开) is critical for each of the three', () => {
    const ts = [
      deal('T1', 'A', 'B', LATEST - 10 * DAY_MS),
      deal('T2', 'B', 'C', LATEST - 5 * DAY_MS),
      deal('T3', 'C', 'A', LATEST),
    ];
    const fs = circularTrading(W, ts, P);
    expect(fs.map((f) => [f.partyKey, f.severity, f.evidence.cycle_length])).toEqual([
      ['A', 'critical', 3],
      ['B', 'critical', 3],
      ['C', 'critical', 3],
    ]);
  });

  it('a ring of 6 is critical; a ring of 7 is beyond the rule', () => {
    const ring = (n: number) =>
      Array.from({ length: n }, (_, i) =>
        deal(`T${i}`, `N${i}`, `N${(i + 1) % n}`, LATEST - (n - 1 - i) * DAY_MS),
      );
    expect(circularTrading(W, ring(6), P).map((f) => f.severity)).toEqual(Array(6).fill('critical'));
    expect(circularTrading(W, ring(7), P)).toEqual([]);
  });

  it('different materials, a natural person in the ring, or a one-way chain are nothing', () => {
    expect(
      circularTrading(W, [deal('T1', 'A', 'B', LATEST - DAY_MS), deal('T2', 'B', 'A', LATEST, 'CU')], P),
    ).toEqual([]);
    const viaPerson = [
      trade('T1', { occurredMs: LATEST - DAY_MS, seller: E('A'), buyer: person('P') }),
      trade('T2', { occurredMs: LATEST, seller: person('P'), buyer: E('A') }),
    ];
    expect(circularTrading(W, viaPerson, P)).toEqual([]);
    expect(
      circularTrading(W, [deal('T1', 'A', 'B', LATEST - DAY_MS), deal('T2', 'B', 'C', LATEST)], P),
    ).toEqual([]);
  });

  it('is reported in the month of the cycle’s latest trade only', () => {
    const ts = [deal('T1', 'A', 'B', cst(2026, 9, 20)), deal('T2', 'B', 'A', cst(2026, 10, 2))];
    expect(circularTrading(W, ts, P)).toHaveLength(2);
    expect(circularTrading(periodWindow('2026-09'), ts, P)).toEqual([]);
    expect(circularTrading(periodWindow('2026-11'), ts, P)).toEqual([]);
  });

  it('picks the most recent instance of a cycle', () => {
    const ts = [
      deal('T1', 'A', 'B', LATEST - 80 * DAY_MS),
      deal('T2', 'A', 'B', LATEST - 3 * DAY_MS),
      deal('T3', 'B', 'A', LATEST),
    ];
    expect(circularTrading(W, ts, P)[0]!.trades.map((t) => t.trade_id)).toEqual(['T2', 'T3']);
  });
});
