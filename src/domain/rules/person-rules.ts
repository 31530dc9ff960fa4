import { formatMoney } from '../money';
import { addMonths, type Finding, type PeriodWindow, ratio } from './types';

/** Rules on natural persons' sales over rolling months (Asia/Shanghai calendar months). */

export interface ReverseInvoiceLimitParams {
  limit_fen: number;
  medium_basis_points: number;
}

export interface IncomeSplittingParams {
  band_low_fen: number;
  band_high_fen: number;
  min_months: number;
  window_months: number;
}

/** person key → period → fen (excl. VAT) */
export type MonthlyTotals = ReadonlyMap<string, ReadonlyMap<string, bigint>>;

const sumWindow = (months: ReadonlyMap<string, bigint>, end: string, length: number) => {
  let s = 0n;
  for (let i = 0; i < length; i++) s += months.get(addMonths(end, -i)) ?? 0n;
  return s;
};

/** The `length` months ending with `end`, oldest first. */
const monthsEnding = (end: string, length: number) =>
  Array.from({ length }, (_, i) => addMonths(end, i - length + 1));

/**
 * REVERSE_INVOICE_LIMIT: a person's reverse-invoiced sales excl. VAT over the 12 months ending in
 * this month pass 80% (medium) or 100% (high) of the ¥5,000,000 limit. Reported in the month the
 * level is first reached (the window ending the month before was below it), citing the trades
 * of the reverse invoices counted (`tradesFrom`).
 */
export function reverseInvoiceLimit(
  w: PeriodWindow,
  totals: MonthlyTotals,
  names: ReadonlyMap<string, string>,
  p: ReverseInvoiceLimitParams,
): Finding[] {
  const limit = BigInt(p.limit_fen);
  const medium = (limit * BigInt(p.medium_basis_points)) / 10_000n;
  const level = (s: bigint) => (s > limit ? 2 : s > medium ? 1 : 0);
  const out: Finding[] = [];
  for (const [person, months] of totals) {
    const now = sumWindow(months, w.period, 12);
    const before = sumWindow(months, addMonths(w.period, -1), 12);
    const l = level(now);
    if (l === 0 || l <= level(before)) continue;
    const name = names.get(person) ?? person;
    out.push({
      rule: 'REVERSE_INVOICE_LIMIT',
      dedupeKey: l === 2 ? 'limit' : 'warning',
      severity: l === 2 ? 'high' : 'medium',
      partyKey: person,
      period: w.period,
      trades: [],
      // The trades of the reverse invoices counted: read by the engine for this person only.
      tradesFrom: { source: 'reverse_invoices', person, periods: monthsEnding(w.period, 12) },
      documents: [],
      summaryZh: `${name} 近12个月反向开票销售额（不含税）¥${formatMoney(now)}，达到限额 ¥${formatMoney(limit)} 的 ${ratio(now * 100n, limit)}%`,
      summaryEn: `${name}: reverse-invoiced sales excl. VAT over 12 months reached ¥${formatMoney(now)}, ${ratio(now * 100n, limit)}% of the ¥${formatMoney(limit)} limit`,
      evidence: {
        window: `${addMonths(w.period, -11)}..${w.period}`,
        total_ex_vat: formatMoney(now),
        previous_window_total: formatMoney(before),
        limit: formatMoney(limit),
        share: ratio(now, limit),
        medium_share: ratio(BigInt(p.medium_basis_points), 10_000n),
      },
    });
  }
  return out;
}

/**
 * INCOME_SPLITTING: a person's monthly sales excl. VAT fall in [band_low, band_high) in at least
 * `min_months` of `window_months` consecutive months — just under the monthly exemption.
 * Reported in the month that completes the pattern (this month is in the band and the window
 * ending the month before did not yet satisfy it), citing the sales of the months in the band
 * (`tradesFrom`).
 */
export function incomeSplitting(
  w: PeriodWindow,
  totals: MonthlyTotals,
  names: ReadonlyMap<string, string>,
  p: IncomeSplittingParams,
): Finding[] {
  const lo = BigInt(p.band_low_fen);
  const hi = BigInt(p.band_high_fen);
  const inBand = (v: bigint | undefined) => v !== undefined && v >= lo && v < hi;
  const countIn = (months: ReadonlyMap<string, bigint>, end: string) => {
    let n = 0;
    for (let i = 0; i < p.window_months; i++) if (inBand(months.get(addMonths(end, -i)))) n++;
    return n;
  };
  const out: Finding[] = [];
  for (const [person, months] of totals) {
    if (!inBand(months.get(w.period))) continue;
    const n = countIn(months, w.period);
    if (n < p.min_months || countIn(months, addMonths(w.period, -1)) >= p.min_months) continue;
    const window = monthsEnding(w.period, p.window_months);
    const name = names.get(person) ?? person;
    out.push({
      rule: 'INCOME_SPLITTING',
      dedupeKey: 'band',
      severity: 'medium',
      partyKey: person,
      period: w.period,
      trades: [],
      // The sales of the months in the band: read by the engine for this person only.
      tradesFrom: { source: 'sales', person, periods: window.filter((m) => inBand(months.get(m))) },
      documents: [],
      summaryZh: `${name} 在连续 ${p.window_months} 个月中有 ${n} 个月销售额（不含税）落在 ¥${formatMoney(lo)}–¥${formatMoney(hi)} 之间，紧贴免税额度（拆分收入嫌疑）`,
      summaryEn: `${name}: monthly sales excl. VAT fell in [¥${formatMoney(lo)}, ¥${formatMoney(hi)}) in ${n} of ${p.window_months} consecutive months, just under the exemption`,
      evidence: {
        months: Object.fromEntries(window.map((m) => [m, formatMoney(months.get(m) ?? 0n)])),
        months_in_band: n,
        band: [formatMoney(lo), formatMoney(hi)],
        min_months: p.min_months,
      },
    });
  }
  return out;
}
