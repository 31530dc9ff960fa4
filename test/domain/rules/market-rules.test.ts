import { describe, expect, it } from 'vitest';
import {
  duplicateDocument,
  hazardousUnlicensed,
  priceDeviation,
  shellBurst,
} from '../../../src/domain/rules/market-rules';
import { periodWindow } from '../../../src/domain/rules/types';
import {
  cst,
  enterprise,
  invoice,
  kg,
  line,
  PLATFORM,
  paid,
  payment,
  person,
  subject,
  trade,
  weighing,
  yuan,
} from './builders';

/** Market rules (DOMAIN.md section 7): prices, reused documents, young shells, hazardous goods. */
const W = periodWindow('2026-10');
const AT = cst(2026, 10, 10, 10);

describe('PRICE_DEVIATION', () => {
  const P = { medium_basis_points: 3_000, high_basis_points: 5_000, min_trades_for_median: 20 };
  const REF = new Map([['FE_HEAVY', 220_000n]]); // ¥2,200.00/t
  /** 10 t of FE_HEAVY for `amount` (reference amount ¥22,000.00). */
  const at = (amount: string, over: Partial<Parameters<typeof trade>[1]> = {}) =>
    trade('T1', { occurredMs: AT, lines: [line('FE_HEAVY', kg(10_000), yuan(amount))], ...over });
  const run = (amount: string) => priceDeviation(W, [at(amount)], REF, P);

  it('more than 30% above the reference price is medium on the buying enterprise', () => {
    const [f, ...rest] = run('28600.01');
    expect(rest).toEqual([]);
    expect(subject(f!)).toEqual({
      rule: 'PRICE_DEVIATION',
      severity: 'medium',
      party: 'B',
      period: '2026-10',
      trades: [`${PLATFORM}:T1`],
    });
    expect(f!.evidence).toEqual({
      material: 'FE_HEAVY',
      unit_price_per_t: '2860.00',
      reference_price_per_t: '2200.00',
      deviation: '0.3000',
      medium_above: '0.3000',
      high_above: '0.5000',
    });
  });

  it('the ±30% and ±50% boundaries are exclusive', () => {
    const sev = (amount: string) => run(amount).map((f) => f.severity);
    expect(sev('28600.00')).toEqual([]); // +30%
    expect(sev('15400.00')).toEqual([]); // −30%
    expect(sev('15399.99')).toEqual(['medium']);
    expect(sev('33000.00')).toEqual(['medium']); // +50%
    expect(sev('33000.01')).toEqual(['high']);
    expect(sev('11000.00')).toEqual(['medium']); // −50%
    expect(sev('10999.99')).toEqual(['high']);
    expect(run('10999.99')[0]!.evidence.deviation).toBe('-0.5000');
  });

  it('an enterprise seller sets its own price: the finding is on the seller', () => {
    const fs = priceDeviation(W, [at('40000.00', { seller: enterprise('E') })], REF, P);
    expect(fs.map((f) => [f.partyKey, f.severity])).toEqual([['E', 'high']]);
  });

  it('only the deviating line of a trade, each material on its own', () => {
    const t = trade('T2', {
      occurredMs: AT,
      lines: [line('FE_HEAVY', kg(1_000), yuan(2_200)), line('CU', kg(100), yuan(6_000))],
    });
    const ref = new Map([...REF, ['CU', 6_000_000n]]);
    expect(priceDeviation(W, [t], ref, P)).toEqual([]);
    const cheap = { ...t, lines: [t.lines[0]!, line('CU', kg(100), yuan(2_000))] };
    expect(priceDeviation(W, [cheap], ref, P).map((f) => [f.dedupeKey, f.severity])).toEqual([
      [`${PLATFORM}:T2:CU`, 'high'],
    ]);
  });

  describe('without a reference price: the month’s median (≥ 20 trades)', () => {
    const papers = (normal: number) => [
      ...Array.from({ length: normal }, (_, i) =>
        trade(`N${i}`, { occurredMs: AT + i, lines: [line('PAPER', kg(1_000), yuan(1_600))] }),
      ),
      trade('X', { occurredMs: AT, lines: [line('PAPER', kg(1_000), yuan(2_600))] }),
    ];

    it('20 trades: the outlier against the median is high', () => {
      const [f, ...rest] = priceDeviation(W, papers(19), REF, P);
      expect(rest).toEqual([]);
      expect(f!.trades).toEqual([{ platform: PLATFORM, trade_id: 'X' }]);
      expect(f!.severity).toBe('high');
      expect(f!.evidence).toMatchObject({
        median_price_per_t: '1600.00',
        unit_price_per_t: '2600.00',
        deviation: '0.6250',
      });
    });

    it('19 trades: no median, nothing', () => {
      expect(priceDeviation(W, papers(18), REF, P)).toEqual([]);
    });

    it('other months’ trades do not make up the 20', () => {
      const ts = papers(19);
      ts[0] = { ...ts[0]!, occurredMs: cst(2026, 9, 30) };
      expect(priceDeviation(W, ts, REF, P)).toEqual([]);
    });

    // The minimum counts trades, not trade lines (fixed; this was a reported bug). Ten trades of two PAPER lines each
    // are 20 prices but only 10 trades: DOMAIN.md (and the parameter's name, min_trades_for_median)
    // say there is no median to compare with, yet the outlier line is flagged.
    it('counts trades, not lines', () => {
      const two = (id: string, second: bigint) =>
        trade(id, {
          occurredMs: AT,
          lines: [line('PAPER', kg(1_000), yuan(1_600)), line('PAPER', kg(1_000), second)],
        });
      const ts = [...Array.from({ length: 9 }, (_, i) => two(`N${i}`, yuan(1_600))), two('X', yuan(2_600))];
      expect(priceDeviation(W, ts, REF, P)).toEqual([]);
    });

    it('a reference price, when there is one, wins over the median', () => {
      const ts = papers(19);
      expect(
        priceDeviation(W, ts, new Map([['PAPER', 260_000n]]), P).map((f) => f.trades[0]!.trade_id),
      ).toEqual(Array.from({ length: 19 }, (_, i) => `N${i}`));
    });
  });
});

describe('DUPLICATE_DOCUMENT', () => {
  const buyers = new Map([
    [`${PLATFORM}:T1`, 'B1'],
    [`${PLATFORM}:T2`, 'B2'],
    ['other:T9', 'B9'],
  ]);
  const run = (
    ws = [] as ReturnType<typeof weighing>[],
    ps = [] as ReturnType<typeof payment>[],
    is = [] as ReturnType<typeof invoice>[],
  ) => duplicateDocument(W, ws, ps, is, buyers);

  it('one weighbridge ticket at a site on two trades is high, on the buyer of its latest use', () => {
    const ws = [
      weighing('W1', { weighedMs: cst(2026, 10, 3), ticketNo: 'TK1', tradeId: 'T1' }),
      weighing('W2', { weighedMs: cst(2026, 10, 8), ticketNo: 'TK1', tradeId: 'T2' }),
    ];
    const [f, ...rest] = run(ws);
    expect(rest).toEqual([]);
    expect(subject(f!)).toEqual({
      rule: 'DUPLICATE_DOCUMENT',
      severity: 'high',
      party: 'B2',
      period: '2026-10',
      trades: [`${PLATFORM}:T1`, `${PLATFORM}:T2`],
    });
    expect(f!.documents).toEqual([{ kind: 'weighing', number: 'TK1' }]);
    expect(f!.evidence).toEqual({
      document_kind: 'weighing',
      number: 'TK1',
      records: [`${PLATFORM}:W1`, `${PLATFORM}:W2`],
      trades: 2,
    });
  });

  it('a ticket re-sent under the trade that replaced a cancelled one is not a duplicate', () => {
    // The facts give a weighing of a trade that is not active no buyer (rule-facts.repository).
    const ws = [
      weighing('W1', { weighedMs: cst(2026, 10, 3), ticketNo: 'TK1', tradeId: 'T0', buyerKey: null }),
      weighing('W2', { weighedMs: cst(2026, 10, 4), ticketNo: 'TK1', tradeId: 'T1' }),
    ];
    expect(run(ws)).toEqual([]);
    // Reused again on another active trade, it is one: the cancelled trade is not among them.
    const again = [...ws, weighing('W3', { weighedMs: cst(2026, 10, 5), ticketNo: 'TK1', tradeId: 'T2' })];
    const [f, ...rest] = run(again);
    expect(rest).toEqual([]);
    expect([subject(f!).trades, f!.evidence.records]).toEqual([
      [`${PLATFORM}:T1`, `${PLATFORM}:T2`],
      [`${PLATFORM}:W2`, `${PLATFORM}:W3`],
    ]);
  });

  it('the same ticket number at two sites is two tickets', () => {
    const ws = [
      weighing('W1', { weighedMs: AT, ticketNo: 'TK1', tradeId: 'T1', siteCode: 'S1' }),
      weighing('W2', { weighedMs: AT, ticketNo: 'TK1', tradeId: 'T2', siteCode: 'S2' }),
    ];
    expect(run(ws)).toEqual([]);
  });

  it('a payment record paying two trades is not a duplicate; two records with one serial are', () => {
    const multi = payment('PAY1', {
      paidMs: AT,
      serialNo: 'SN1',
      trades: [paid('T1', person('S')), paid('T2', person('S'))],
    });
    expect(run([], [multi])).toEqual([]);
    const a = payment('PAY1', {
      paidMs: cst(2026, 10, 3),
      serialNo: 'SN1',
      trades: [paid('T1', person('S'))],
    });
    const b = payment('PAY2', {
      paidMs: cst(2026, 10, 4),
      serialNo: 'SN1',
      trades: [paid('T2', person('S'))],
    });
    const [f] = run([], [a, b]);
    expect([f!.documents, f!.partyKey, f!.evidence.records]).toEqual([
      [{ kind: 'payment', number: 'SN1' }],
      'B2',
      [`${PLATFORM}:PAY1`, `${PLATFORM}:PAY2`],
    ]);
  });

  it('two records of one document on the same trade are not a duplicate; payments without a serial never are', () => {
    const a = payment('PAY1', { paidMs: AT, serialNo: 'SN1', trades: [paid('T1', person('S'))] });
    const b = payment('PAY2', { paidMs: AT, serialNo: 'SN1', trades: [paid('T1', person('S'))] });
    expect(run([], [a, b])).toEqual([]);
    const c = payment('PAY3', { paidMs: AT, trades: [paid('T1', person('S'))] });
    const d = payment('PAY4', { paidMs: AT, trades: [paid('T2', person('S'))] });
    expect(run([], [c, d])).toEqual([]);
  });

  it('an invoice number used on two platforms for different trades is a duplicate', () => {
    const no = '26442000000000000001';
    const is = [
      invoice(no, { issuedMs: cst(2026, 10, 3), linkedTrades: [{ platform: PLATFORM, tradeId: 'T1' }] }),
      {
        ...invoice(no, { issuedMs: cst(2026, 10, 5), linkedTrades: [{ platform: 'other', tradeId: 'T9' }] }),
        platform: 'other',
      },
    ];
    const [f] = run([], [], is);
    expect([f!.partyKey, f!.trades, f!.evidence.records]).toEqual([
      'B9',
      [
        { platform: PLATFORM, trade_id: 'T1' },
        { platform: 'other', trade_id: 'T9' },
      ],
      [`${PLATFORM}:${no}`, `other:${no}`],
    ]);
  });

  it('is reported in the month of the latest use; reversed payments do not count', () => {
    const ws = [
      weighing('W1', { weighedMs: cst(2026, 9, 28), ticketNo: 'TK1', tradeId: 'T1' }),
      weighing('W2', { weighedMs: cst(2026, 10, 2), ticketNo: 'TK1', tradeId: 'T2' }),
    ];
    expect(run(ws)).toHaveLength(1);
    expect(duplicateDocument(periodWindow('2026-09'), ws, [], [], buyers)).toEqual([]);
    const a = payment('PAY1', { paidMs: AT, serialNo: 'SN1', trades: [paid('T1', person('S'))] });
    const b = payment('PAY2', {
      paidMs: AT,
      serialNo: 'SN1',
      reversed: true,
      trades: [paid('T2', person('S'))],
    });
    expect(run([], [a, b])).toEqual([]);
  });
});

describe('SHELL_BURST', () => {
  const P = { max_age_days: 180, min_sales_fen: 500_000_000 };
  // 2026-04-05 is 179 days before 2026-10-01; 2026-04-04 is 180 days.
  const shell = (establishedOn: string | null) => enterprise('E', { establishedOn });
  const sales = (establishedOn: string | null, ...amounts: string[]) =>
    amounts.map((a, i) =>
      trade(`T${i}`, {
        occurredMs: AT - i * 86_400_000,
        seller: shell(establishedOn),
        levyBp: 0n,
        lines: [line('FE_HEAVY', kg(1_000_000), yuan(a))],
      }),
    );

  it('179 days old at the month’s start, selling ¥5,000,000.01 excl. VAT: high', () => {
    const [f, ...rest] = shellBurst(W, sales('2026-04-05', '3000000.00', '2000000.01'), P);
    expect(rest).toEqual([]);
    expect(subject(f!)).toEqual({
      rule: 'SHELL_BURST',
      severity: 'high',
      party: 'E',
      period: '2026-10',
      trades: [`${PLATFORM}:T1`, `${PLATFORM}:T0`],
    });
    expect(f!.evidence).toEqual({
      established_on: '2026-04-05',
      age_days_at_month_start: 179,
      sales_ex_vat: '5000000.01',
      min_sales: '5000000.00',
      max_age_days: 180,
    });
  });

  it('exactly ¥5,000,000.00 is nothing; 180 days old is nothing', () => {
    expect(shellBurst(W, sales('2026-04-05', '3000000.00', '2000000.00'), P)).toEqual([]);
    expect(shellBurst(W, sales('2026-04-04', '6000000.00'), P)).toEqual([]);
  });

  it('sales count excluding VAT: ¥5,150,000.00 at 3% is exactly the limit, ¥0.02 more passes it', () => {
    const at3 = (amount: string) => sales('2026-04-05', amount).map((t) => ({ ...t, levyBp: 300n }));
    expect(shellBurst(W, at3('5150000.00'), P)).toEqual([]);
    expect(shellBurst(W, at3('5150000.02'), P).map((f) => f.evidence.sales_ex_vat)).toEqual(['5000000.02']);
  });

  it('an enterprise founded during the month counts as young; no founding date or a person is nothing', () => {
    expect(shellBurst(W, sales('2026-10-05', '6000000.00'), P)).toHaveLength(1);
    expect(shellBurst(W, sales(null, '6000000.00'), P)).toEqual([]);
    const byPerson = sales('2026-04-05', '6000000.00').map((t) => ({ ...t, seller: person('P') }));
    expect(shellBurst(W, byPerson, P)).toEqual([]);
  });
});

describe('HAZARDOUS_UNLICENSED', () => {
  const HAZ = new Set(['PB_BATTERY', 'OIL']);
  const sale = (roles: string[], lines = [line('PB_BATTERY', kg(2_000), yuan(19_000))]) =>
    trade('T1', { occurredMs: AT, seller: enterprise('E'), buyer: enterprise('B', { roles }), lines });

  it('a hazardous material sold to a buyer without a licence is high on the buyer', () => {
    const mixed = [line('FE_HEAVY', kg(1_000), yuan(2_200)), line('PB_BATTERY', kg(2_000), yuan(19_000))];
    const [f, ...rest] = hazardousUnlicensed(W, [sale(['recycler'], mixed)], HAZ);
    expect(rest).toEqual([]);
    expect(subject(f!)).toEqual({
      rule: 'HAZARDOUS_UNLICENSED',
      severity: 'high',
      party: 'B',
      period: '2026-10',
      trades: [`${PLATFORM}:T1`],
    });
    expect(f!.evidence).toEqual({
      materials: ['PB_BATTERY'],
      seller: 'E',
      buyer: 'B',
      buyer_roles: ['recycler'],
    });
  });

  it('a licensed buyer, or a material that is not hazardous, is nothing', () => {
    expect(hazardousUnlicensed(W, [sale(['recycler', 'hazardous_licensed'])], HAZ)).toEqual([]);
    expect(hazardousUnlicensed(W, [sale([], [line('FE_HEAVY', kg(1_000), yuan(2_200))])], HAZ)).toEqual([]);
  });

  it('a natural-person buyer holds no licence', () => {
    const t = { ...sale([]), buyer: person('P') };
    expect(hazardousUnlicensed(W, [t], HAZ).map((f) => f.partyKey)).toEqual(['P']);
  });
});
