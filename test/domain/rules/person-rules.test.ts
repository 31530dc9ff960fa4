import { describe, expect, it } from 'vitest';
import { incomeSplitting, reverseInvoiceLimit } from '../../../src/domain/rules/person-rules';
import { addMonths, periodWindow } from '../../../src/domain/rules/types';
import { subject, yuan } from './builders';

/** Natural persons' rolling-month rules (DOMAIN.md section 7); totals are excl. VAT, in fen. */
const W = periodWindow('2026-10');
const names = new Map([['P', '张三']]);
const totals = (months: Record<string, bigint>) => new Map([['P', new Map(Object.entries(months))]]);

describe('REVERSE_INVOICE_LIMIT', () => {
  const P = { limit_fen: 500_000_000, medium_basis_points: 8_000 };
  /** ¥3,990,000.00 spread over 2025-11 … 2026-09 (below 80%), then `october` in 2026-10. */
  const year = (october: string, before = 399_000_000n) => {
    const m: Record<string, bigint> = {};
    for (let i = 1; i <= 11; i++) m[addMonths('2026-10', -i)] = 0n;
    m['2026-09'] = before;
    m['2026-10'] = yuan(october);
    return totals(m);
  };

  it('passing 80% of ¥5,000,000 over 12 months is medium, in the month it happens', () => {
    const [f, ...rest] = reverseInvoiceLimit(W, year('10000.01'), names, P);
    expect(rest).toEqual([]);
    expect(subject(f!)).toEqual({
      rule: 'REVERSE_INVOICE_LIMIT',
      severity: 'medium',
      party: 'P',
      period: '2026-10',
      trades: [],
    });
    expect(f!.evidence).toEqual({
      window: '2025-11..2026-10',
      total_ex_vat: '4000000.01',
      previous_window_total: '3990000.00',
      limit: '5000000.00',
      share: '0.8000',
      medium_share: '0.8000',
    });
    // Its trades are the person's reverse invoices' of the 12 months, read by the engine.
    expect(f!.tradesFrom).toEqual({
      source: 'reverse_invoices',
      person: 'P',
      periods: [
        '2025-11',
        '2025-12',
        '2026-01',
        '2026-02',
        '2026-03',
        '2026-04',
        '2026-05',
        '2026-06',
        '2026-07',
        '2026-08',
        '2026-09',
        '2026-10',
      ],
    });
  });

  it('exactly 80% is nothing', () => {
    expect(reverseInvoiceLimit(W, year('10000.00'), names, P)).toEqual([]);
  });

  it('exactly 100% stays medium; ¥0.01 over the limit is high', () => {
    const from = (oct: string) => year(oct, 450_000_000n);
    expect(reverseInvoiceLimit(W, from('500000.00'), names, P)).toEqual([]); // already medium in September
    const [f] = reverseInvoiceLimit(W, from('500000.01'), names, P);
    expect([f!.severity, f!.dedupeKey, f!.evidence.total_ex_vat]).toEqual(['high', 'limit', '5000000.01']);
  });

  it('jumping straight over the limit is one high finding', () => {
    expect(reverseInvoiceLimit(W, year('5000000.01', 0n), names, P).map((f) => f.severity)).toEqual(['high']);
  });

  it('a month 12 months back is outside the window', () => {
    const t = totals({ '2025-10': 300_000_000n, '2026-10': 300_000_000n });
    expect(reverseInvoiceLimit(W, t, names, P)).toEqual([]);
    const inside = totals({ '2025-11': 300_000_000n, '2026-10': 300_000_000n });
    expect(reverseInvoiceLimit(W, inside, names, P).map((f) => f.severity)).toEqual(['high']);
  });

  it('a level already reached in the window before is not reported again', () => {
    expect(reverseInvoiceLimit(W, year('10000.00', 410_000_000n), names, P)).toEqual([]);
  });
});

describe('INCOME_SPLITTING', () => {
  const P = { band_low_fen: 9_500_000, band_high_fen: 10_000_000, min_months: 3, window_months: 6 };
  const run = (months: Record<string, string>, w = W) =>
    incomeSplitting(
      w,
      totals(Object.fromEntries(Object.entries(months).map(([k, v]) => [k, yuan(v)]))),
      names,
      P,
    );

  it('3 months of 6 in [¥95,000, ¥100,000): medium in the month that completes it', () => {
    const [f, ...rest] = run({ '2026-08': '99999.99', '2026-09': '95000.00', '2026-10': '97000.00' });
    expect(rest).toEqual([]);
    expect(subject(f!)).toEqual({
      rule: 'INCOME_SPLITTING',
      severity: 'medium',
      party: 'P',
      period: '2026-10',
      trades: [],
    });
    expect(f!.evidence).toEqual({
      months: {
        '2026-05': '0.00',
        '2026-06': '0.00',
        '2026-07': '0.00',
        '2026-08': '99999.99',
        '2026-09': '95000.00',
        '2026-10': '97000.00',
      },
      months_in_band: 3,
      band: ['95000.00', '100000.00'],
      min_months: 3,
    });
    // Its trades are the person's sales of the months in the band, read by the engine.
    expect(f!.tradesFrom).toEqual({
      source: 'sales',
      person: 'P',
      periods: ['2026-08', '2026-09', '2026-10'],
    });
  });

  it('¥100,000.00 is out of the band, ¥94,999.99 too', () => {
    expect(run({ '2026-08': '99999.99', '2026-09': '95000.00', '2026-10': '100000.00' })).toEqual([]);
    expect(run({ '2026-08': '99999.99', '2026-09': '95000.00', '2026-10': '94999.99' })).toEqual([]);
    expect(run({ '2026-08': '100000.00', '2026-09': '95000.00', '2026-10': '99999.99' })).toEqual([]);
  });

  it('the months need not be adjacent, but must lie within 6 consecutive months', () => {
    expect(run({ '2026-05': '96000.00', '2026-07': '96000.00', '2026-10': '96000.00' })).toHaveLength(1);
    expect(run({ '2026-04': '96000.00', '2026-07': '96000.00', '2026-10': '96000.00' })).toEqual([]);
  });

  it('not again the month after the pattern was complete', () => {
    const months = {
      '2026-08': '96000.00',
      '2026-09': '96000.00',
      '2026-10': '96000.00',
      '2026-11': '96000.00',
    };
    expect(run(months)).toHaveLength(1);
    expect(run(months, periodWindow('2026-11'))).toEqual([]);
  });
});
