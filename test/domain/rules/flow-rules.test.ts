import { describe, expect, it } from 'vitest';
import {
  invoiceMismatch,
  invoiceWithoutTrade,
  missingFlow,
  paymentMismatch,
  weightMismatch,
} from '../../../src/domain/rules/flow-rules';
import { DAY_MS, periodWindow } from '../../../src/domain/rules/types';
import { shanghaiTime } from '../../../src/domain/time';
import { RULES } from '../../../src/rules/registry';
import {
  clockAt,
  cst,
  enterprise,
  flow,
  flowMap,
  HOUR_MS,
  invoice,
  kg,
  line,
  MINUTE_MS,
  PLATFORM,
  person,
  subject,
  trade,
  yuan,
} from './builders';

/**
 * The four-flow rules (DOMAIN.md section 7) on worked examples, each next to its near miss.
 * Tolerances (section 6): amount max(¥1.00, 0.5%), weight max(20 kg, 1%). A ¥22,000.00 trade of
 * 10 t has an amount tolerance of ¥110.00 and a weight tolerance of 100 kg.
 */
const W = periodWindow('2026-10');
const AT = cst(2026, 10, 10, 10);
const seller = person('S');
const buyer = enterprise('B');
const t = trade('T1', { occurredMs: AT, seller, buyer });

const PAY = { amount_min_fen: 100, amount_basis_points: 50, grace_days: 7 };
const WEIGH = { weight_min_g: 20_000, weight_basis_points: 100, high_basis_points: 500 };
const INV = { amount_min_fen: 100, amount_basis_points: 50, weight_min_g: 20_000, weight_basis_points: 100 };
const MISSING = { payment_days: 7, weighing_days: 7, invoice_days: 30 };

describe('PAYMENT_MISMATCH', () => {
  const run = (paid: string, clockMs = AT, tr = t, live = 1) =>
    paymentMismatch(
      W,
      [tr],
      flowMap(
        flow(tr, { paidFen: yuan(paid), payments: Array.from({ length: live }, (_, i) => `PAY-${i + 1}`) }),
      ),
      clockAt(clockMs),
      PAY,
    );

  it('overpaid beyond the tolerance is high at once, with the numbers', () => {
    const [f, ...rest] = run('22110.01');
    expect(rest).toEqual([]);
    expect(subject(f!)).toEqual({
      rule: 'PAYMENT_MISMATCH',
      severity: 'high',
      party: 'B',
      period: '2026-10',
      trades: [`${PLATFORM}:T1`],
    });
    // The payments are what the finding is about: they are its documents.
    expect(f!.documents).toEqual([{ kind: 'payment', number: 'PAY-1' }]);
    expect(f!.evidence).toMatchObject({
      trade_total: '22000.00',
      paid: '22110.01',
      difference: '110.01',
      tolerance: '110.00',
    });
  });

  it('overpaid by exactly the tolerance is nothing', () => {
    expect(run('22110.00')).toEqual([]);
    expect(run('22110.00', AT + 60 * DAY_MS)).toEqual([]);
  });

  it('the ¥1.00 floor applies to small trades', () => {
    const small = trade('T2', { occurredMs: AT, lines: [line('FE_HEAVY', kg(45), yuan(100))] });
    expect(run('101.00', AT, small)).toEqual([]);
    expect(run('101.01', AT, small).map((f) => [f.severity, f.evidence.tolerance])).toEqual([
      ['high', '1.00'],
    ]);
  });

  it('underpaid is nothing at 6 days 23 hours on the data clock, medium at 7 days', () => {
    expect(run('20000.00', AT)).toEqual([]);
    expect(run('20000.00', AT + 7 * DAY_MS - HOUR_MS)).toEqual([]);
    expect(run('20000.00', AT + 7 * DAY_MS - 1)).toEqual([]);
    const [f, ...rest] = run('20000.00', AT + 7 * DAY_MS);
    expect(rest).toEqual([]);
    expect(subject(f!)).toMatchObject({ rule: 'PAYMENT_MISMATCH', severity: 'medium', party: 'B' });
    expect(f!.evidence).toMatchObject({
      paid: '20000.00',
      difference: '-2000.00',
      tolerance: '110.00',
      grace_days: 7,
      due_at: shanghaiTime(new Date(AT + 7 * DAY_MS)),
    });
    // What it says depends on the facts, not on how far the clock has moved since.
    expect(run('20000.00', AT + 40 * DAY_MS)).toEqual([f]);
  });

  it('underpaid within the tolerance is nothing, even long after', () => {
    expect(run('21890.00', AT + 60 * DAY_MS)).toEqual([]);
    expect(run('21889.99', AT + 60 * DAY_MS).map((f) => f.severity)).toEqual(['medium']);
  });

  it('no live payment at all is left to MISSING_FLOW', () => {
    expect(run('0.00', AT + 60 * DAY_MS, t, 0)).toEqual([]);
  });

  it('the clock is the trade platform’s own data clock', () => {
    const clock = clockAt(AT + 60 * DAY_MS, { [PLATFORM]: AT + DAY_MS });
    const flows = flowMap(flow(t, { paidFen: yuan(20_000) }));
    expect(paymentMismatch(W, [t], flows, clock, PAY)).toEqual([]);
  });
});

describe('WEIGHT_MISMATCH', () => {
  const run = (weighed: string, tr = t) =>
    weightMismatch(W, [tr], flowMap(flow(tr, { weighedG: kg(weighed) })), WEIGH);

  it('beyond the tolerance is medium, with the numbers and the tickets', () => {
    const [f, ...rest] = run('10100.001');
    expect(rest).toEqual([]);
    expect(subject(f!)).toEqual({
      rule: 'WEIGHT_MISMATCH',
      severity: 'medium',
      party: 'B',
      period: '2026-10',
      trades: [`${PLATFORM}:T1`],
    });
    expect(f!.documents).toEqual([{ kind: 'weighing', number: 'TK-T1' }]);
    expect(f!.evidence).toMatchObject({
      traded_kg: '10000.000',
      weighed_kg: '10100.001',
      difference_kg: '100.001',
      tolerance_kg: '100.000',
      high_above_ratio: '0.0500',
    });
  });

  it('exactly the tolerance, over or under, is nothing', () => {
    expect(run('10100')).toEqual([]);
    expect(run('9900')).toEqual([]);
  });

  it('5.00% is medium, 5.01% is high, either way', () => {
    expect(run('10500').map((f) => f.severity)).toEqual(['medium']);
    expect(run('10500.001').map((f) => f.severity)).toEqual(['high']);
    expect(run('10501').map((f) => [f.severity, f.evidence.difference_ratio])).toEqual([['high', '0.0501']]);
    expect(run('9500').map((f) => f.severity)).toEqual(['medium']);
    expect(run('9499').map((f) => [f.severity, f.evidence.difference_kg])).toEqual([['high', '-501.000']]);
  });

  it('the 20 kg floor applies to small trades', () => {
    const small = trade('T2', { occurredMs: AT, lines: [line('FE_HEAVY', kg(1000), yuan(2200))] });
    expect(run('1020', small)).toEqual([]);
    expect(run('1020.001', small).map((f) => f.evidence.tolerance_kg)).toEqual(['20.000']);
  });

  it('a trade without weighings is left to MISSING_FLOW', () => {
    const flows = flowMap(flow(t, { weighings: [], weighedG: 0n }));
    expect(weightMismatch(W, [t], flows, WEIGH)).toEqual([]);
  });
});

describe('INVOICE_MISMATCH', () => {
  const e = enterprise('E');
  const te = trade('T3', { occurredMs: AT, seller: e, buyer });
  const run = (over: Parameters<typeof flow>[1], tr = te, p = INV) =>
    invoiceMismatch(W, [tr], flowMap(flow(tr, over)), p);

  it('another material on the invoice (变票) is high, the issuer being the enterprise seller', () => {
    const [f, ...rest] = run({
      invoiceStatus: 'mismatch',
      differences: { material: { trade: ['FE_HEAVY'], invoiced: ['CU'] } },
    });
    expect(rest).toEqual([]);
    expect(subject(f!)).toEqual({
      rule: 'INVOICE_MISMATCH',
      severity: 'high',
      party: 'E',
      period: '2026-10',
      trades: [`${PLATFORM}:T3`],
    });
    expect(f!.documents).toEqual([{ kind: 'invoice', number: 'INV-T3' }]);
    expect(f!.evidence).toMatchObject({ trade_materials: ['FE_HEAVY'], invoiced_materials: ['CU'] });
  });

  it('a material change outranks an amount difference', () => {
    const fs = run({
      invoicedFen: yuan(30_000),
      differences: { material: { trade: ['FE_HEAVY'], invoiced: ['CU', 'FE_HEAVY'] } },
    });
    expect(fs.map((f) => f.severity)).toEqual(['high']);
  });

  it('amount beyond the tolerance is medium; exactly the tolerance is nothing', () => {
    expect(run({ invoicedFen: yuan('22110.00') })).toEqual([]);
    expect(run({ invoicedFen: yuan('21890.00') })).toEqual([]);
    const [f] = run({ invoicedFen: yuan('22110.01') });
    expect(subject(f!)).toMatchObject({ severity: 'medium', party: 'E' });
    expect(f!.evidence).toMatchObject({
      trade_total: '22000.00',
      invoiced_total: '22110.01',
      amount_tolerance: '110.00',
      invoiced_materials: ['FE_HEAVY'],
    });
    expect(run({ invoicedFen: yuan('21889.99') }).map((x) => x.severity)).toEqual(['medium']);
  });

  it('an invoiced quantity beyond the tolerance is medium, with its numbers', () => {
    // 10 t traded, 10.5 t invoiced: 500 kg over a tolerance of max(20 kg, 1%) = 100 kg.
    const [f] = run({ invoicedG: 10_500_000n });
    expect(f!.severity).toBe('medium');
    expect(f!.evidence).toMatchObject({
      traded_kg: '10000.000',
      invoiced_kg: '10500.000',
      quantity_tolerance_kg: '100.000',
    });
    expect(run({ invoicedG: 10_100_000n })).toEqual([]); // exactly the tolerance: no finding
  });

  it('for a natural-person seller the issuer is the reverse-invoicing buyer', () => {
    expect(run({ invoicedFen: yuan(25_000) }, t).map((f) => f.partyKey)).toEqual(['B']);
  });

  it('no live invoice is nothing here (MISSING_FLOW after 30 days)', () => {
    expect(run({ invoiceStatus: 'missing', invoicedFen: 0n })).toEqual([]);
    expect(run({ invoices: [], invoiceStatus: 'missing', invoicedFen: 0n })).toEqual([]);
  });

  // The rule applies its own quantity tolerance (an administrator may change it), not the
  // reconciliation defaults: set to 2% (200 kg), an invoice 150 kg over is no finding.
  it('the quantity tolerance follows the rule’s own settings', () => {
    expect(run({ invoicedG: 10_150_000n }, te, { ...INV, weight_basis_points: 200 })).toEqual([]);
    expect(run({ invoicedG: 10_250_000n }, te, { ...INV, weight_basis_points: 200 })).toHaveLength(1);
  });
});

describe('MISSING_FLOW', () => {
  const e = enterprise('E');
  const te = trade('T4', { occurredMs: AT, seller: e, buyer });
  const bare = (tr = te) =>
    flowMap(
      flow(tr, {
        paymentStatus: 'missing',
        weighingStatus: 'missing',
        invoiceStatus: 'missing',
        paidFen: 0n,
        weighedG: 0n,
        invoicedFen: 0n,
        payments: [],
        weighings: [],
        invoices: [],
      }),
    );
  const run = (clockMs: number, tr = te, flows = bare(tr)) =>
    missingFlow(W, [tr], flows, clockAt(clockMs), MISSING);

  it('no payment and no weighing 7 days after the trade: two medium findings on the buyer', () => {
    const fs = run(AT + 7 * DAY_MS);
    expect(fs.map(subject)).toEqual([
      { rule: 'MISSING_FLOW', severity: 'medium', party: 'B', period: '2026-10', trades: [`${PLATFORM}:T4`] },
      { rule: 'MISSING_FLOW', severity: 'medium', party: 'B', period: '2026-10', trades: [`${PLATFORM}:T4`] },
    ]);
    expect(fs.map((f) => f.dedupeKey)).toEqual([`${PLATFORM}:T4:payment`, `${PLATFORM}:T4:weighing`]);
    expect(fs[0]!.evidence).toEqual({
      missing_flow: 'payment',
      limit_days: 7,
      due_at: shanghaiTime(new Date(AT + 7 * DAY_MS)),
    });
    expect(fs[1]!.evidence).toMatchObject({ missing_flow: 'weighing', limit_days: 7 });
    expect(fs[0]!.summaryEn).toBe('Trade T4: no payment 7 days after the trade');
    // The same findings, word for word, however far the clock has moved since.
    expect(run(AT + 20 * DAY_MS)).toEqual(fs);
  });

  it('nothing a minute before 7 days', () => {
    expect(run(AT + 7 * DAY_MS - MINUTE_MS)).toEqual([]);
    expect(run(AT + 7 * DAY_MS - 1)).toEqual([]);
  });

  it('no invoice from an enterprise seller: low on the seller at 30 days, not a minute before', () => {
    const before = run(AT + 30 * DAY_MS - MINUTE_MS);
    expect(before.map((f) => f.evidence.missing_flow)).toEqual(['payment', 'weighing']);
    const fs = run(AT + 30 * DAY_MS);
    expect(fs.map((f) => f.evidence.missing_flow)).toEqual(['payment', 'weighing', 'invoice']);
    const inv = fs[2]!;
    expect(subject(inv)).toMatchObject({ severity: 'low', party: 'E' });
    expect(inv.evidence).toMatchObject({ limit_days: 30, due_at: shanghaiTime(new Date(AT + 30 * DAY_MS)) });
  });

  it('a natural-person seller owes no invoice', () => {
    expect(run(AT + 90 * DAY_MS, t).map((f) => f.evidence.missing_flow)).toEqual(['payment', 'weighing']);
  });

  it('each flow on its own: a paid and weighed trade is only missing its invoice', () => {
    const flows = flowMap(flow(te, { invoiceStatus: 'missing', invoices: [], invoicedFen: 0n }));
    expect(run(AT + 30 * DAY_MS, te, flows).map((f) => [f.evidence.missing_flow, f.severity])).toEqual([
      ['invoice', 'low'],
    ]);
    const noWeighing = flowMap(flow(te, { weighings: [], weighedG: 0n, weighingStatus: 'missing' }));
    expect(run(AT + 7 * DAY_MS, te, noWeighing).map((f) => f.evidence.missing_flow)).toEqual(['weighing']);
    const noPayment = flowMap(flow(te, { payments: [], paidFen: 0n, paymentStatus: 'missing' }));
    expect(run(AT + 7 * DAY_MS, te, noPayment).map((f) => f.evidence.missing_flow)).toEqual(['payment']);
  });

  it('an invoice reversed in full (status missing) counts as no invoice', () => {
    const flows = flowMap(flow(te, { invoiceStatus: 'missing', invoicedFen: 0n }));
    expect(run(AT + 30 * DAY_MS, te, flows).map((f) => f.evidence.missing_flow)).toEqual(['invoice']);
  });
});

describe('INVOICE_WITHOUT_TRADE', () => {
  const ISSUED = cst(2026, 10, 20, 10);
  const run = (clockMs: number, over: Partial<Parameters<typeof invoice>[1]> = {}) =>
    invoiceWithoutTrade(
      W,
      [invoice('26442000000000000001', { issuedMs: ISSUED, ...over })],
      clockAt(clockMs),
      {
        grace_days: 7,
      },
    );

  it('a blue invoice with no trade 7 days after issue is high on its enterprise issuer', () => {
    const [f, ...rest] = run(ISSUED + 7 * DAY_MS);
    expect(rest).toEqual([]);
    expect(subject(f!)).toEqual({
      rule: 'INVOICE_WITHOUT_TRADE',
      severity: 'high',
      party: 'E',
      period: '2026-10',
      trades: [],
    });
    expect(f!.documents).toEqual([{ kind: 'invoice', number: '26442000000000000001' }]);
    expect(f!.evidence).toEqual({
      invoice_no: '26442000000000000001',
      total_ex_tax: '21359.22',
      grace_days: 7,
      due_at: shanghaiTime(new Date(ISSUED + 7 * DAY_MS)),
    });
    expect(run(ISSUED + 30 * DAY_MS)).toEqual([f]);
  });

  it('6 days (and 6 days 23 h 59 min) after issue is nothing yet', () => {
    expect(run(ISSUED + 6 * DAY_MS)).toEqual([]);
    expect(run(ISSUED + 7 * DAY_MS - MINUTE_MS)).toEqual([]);
  });

  it('an invoice linked to a trade is nothing', () => {
    expect(run(ISSUED + 30 * DAY_MS, { linkedTrades: [{ platform: PLATFORM, tradeId: 'T1' }] })).toEqual([]);
  });

  it('an invoice whose matching tied between trades (linked to none) matches trades: nothing', () => {
    const tied = [
      { platform: PLATFORM, tradeId: 'T1' },
      { platform: PLATFORM, tradeId: 'T2' },
    ];
    expect(run(ISSUED + 30 * DAY_MS, { ambiguousTrades: tied })).toEqual([]);
  });

  it('red invoices and fully reversed blue ones are nothing; a partly reversed one still fires', () => {
    expect(run(ISSUED + 30 * DAY_MS, { kind: 'red', totalExFen: -yuan('21359.22') })).toEqual([]);
    expect(run(ISSUED + 30 * DAY_MS, { redExFen: -yuan('21359.22') })).toEqual([]);
    expect(run(ISSUED + 30 * DAY_MS, { redExFen: -yuan('1000.00') }).length).toBe(1);
  });

  it('a reverse invoice for a natural person is on the issuing buyer', () => {
    const fs = run(ISSUED + 7 * DAY_MS, { kind: 'reverse', sellerKey: 'S', sellerKind: 'natural_person' });
    expect(fs.map((f) => f.partyKey)).toEqual(['B']);
  });

  it('belongs to the month of issue only', () => {
    const sept = cst(2026, 9, 20, 10);
    expect(run(sept + 30 * DAY_MS, { issuedMs: sept })).toEqual([]);
  });
});

describe('registry wiring', () => {
  it('evaluates only the month’s trades, on the platform clocks, with the DOMAIN.md defaults', () => {
    const sept = trade('T0', { occurredMs: cst(2026, 9, 28), seller, buyer });
    const oct = trade('T5', { occurredMs: AT, seller, buyer });
    const flows = flowMap(flow(sept, { paidFen: yuan(10_000) }), flow(oct, { paidFen: yuan(10_000) }));
    const facts = {
      window: W,
      trades: [sept, oct],
      flows,
      clocks: new Map([[PLATFORM, AT + 7 * DAY_MS]]),
    } as unknown as Parameters<(typeof RULES)['PAYMENT_MISMATCH']['evaluate']>[0];
    const defaults = RULES.PAYMENT_MISMATCH.defaults;
    expect(defaults).toEqual(PAY);
    expect(RULES.PAYMENT_MISMATCH.evaluate(facts, defaults).map((f) => f.trades[0]!.trade_id)).toEqual([
      'T5',
    ]);
    const noClock = { ...facts, clocks: new Map() };
    expect(RULES.PAYMENT_MISMATCH.evaluate(noClock, defaults)).toEqual([]);
  });
});
