import { describe, expect, it } from 'vitest';
import {
  MAX_GRACE_DAYS,
  periodsAffected,
  periodsRipening,
  RIPENING_LOOKBACK_DAYS,
} from '../../src/rules/periods';
import { RULES } from '../../src/rules/registry';

/** An instant given as Asia/Shanghai wall-clock time (UTC+8). */
const cst = (y: number, m: number, d: number, h = 12) => Date.UTC(y, m - 1, d, h - 8);

describe('periods to evaluate as the data clock advances', () => {
  it('a trade on Jan 30 without an invoice ripens on Mar 1: January is evaluated again then', () => {
    // The trade's batch, then a later batch that moves the clock to Mar 1 (nothing of January in it).
    expect(periodsAffected([cst(2026, 1, 30)], cst(2026, 1, 30))).toEqual(['2025-12', '2026-01']);
    expect(periodsAffected([cst(2026, 3, 1)], cst(2026, 3, 1))).toEqual(['2026-01', '2026-02', '2026-03']);
  });

  it('every month holding an instant within the longest limit (and a day) before the clock', () => {
    expect(periodsRipening(cst(2026, 3, 3, 7))).toEqual(['2026-01', '2026-02', '2026-03']); // Jan 31 07:00
    expect(periodsRipening(cst(2026, 3, 4, 7))).toEqual(['2026-02', '2026-03']); // Feb 1 07:00
    expect(periodsRipening(cst(2026, 3, 31, 23))).toEqual(['2026-02', '2026-03']);
    // Asia/Shanghai months: Feb 1 06:00 CST is still January in UTC.
    expect(periodsRipening(cst(2026, 3, 4, 6))).toEqual(['2026-02', '2026-03']);
    expect(periodsRipening(cst(2026, 1, 15))).toEqual(['2025-12', '2026-01']);
  });

  it('for every clock, the month of every record whose limit ripened in the last day is included', () => {
    const start = cst(2025, 12, 1, 0);
    for (let clock = start; clock < start + 400 * 86_400_000; clock += 7 * 3_600_000) {
      const marked = periodsAffected([], clock);
      for (const days of [7, MAX_GRACE_DAYS]) {
        for (const back of [0, 12 * 3_600_000, 86_400_000]) {
          const at = clock - days * 86_400_000 - back;
          const month = new Date(at + 8 * 3_600_000).toISOString().slice(0, 7);
          expect(marked, `clock ${new Date(clock).toISOString()}, ${days}-day limit`).toContain(month);
        }
      }
    }
  });

  it('a clock that jumps marks every month a limit ripened in since its previous value (13 at most)', () => {
    // Silent from Jan 15 to Mar 20: a Jan 16 trade's 30-day invoice limit ripened on Feb 15.
    expect(periodsAffected([], cst(2026, 3, 20), cst(2026, 1, 15))).toEqual([
      '2025-12',
      '2026-01',
      '2026-02',
      '2026-03',
    ]);
    expect(periodsRipening(cst(2026, 3, 20), cst(2020, 1, 1))).toHaveLength(13);
    // A clock that did not move, or a previous value after the clock: the usual range.
    expect(periodsRipening(cst(2026, 3, 20), cst(2026, 3, 20))).toEqual(periodsRipening(cst(2026, 3, 20)));
  });

  it('the look-back covers the longest default time limit of the rules on the data clock', () => {
    const defaults = (rule: keyof typeof RULES) => RULES[rule].defaults as Record<string, number>;
    const limits: (number | undefined)[] = [
      defaults('MISSING_FLOW').payment_days,
      defaults('MISSING_FLOW').weighing_days,
      defaults('MISSING_FLOW').invoice_days,
      defaults('PAYMENT_MISMATCH').grace_days,
      defaults('INVOICE_WITHOUT_TRADE').grace_days,
    ];
    expect(limits.every((d) => typeof d === 'number')).toBe(true);
    expect(Math.max(...(limits as number[]))).toBe(MAX_GRACE_DAYS);
    expect(RIPENING_LOOKBACK_DAYS).toBe(MAX_GRACE_DAYS + 1);
  });
});
