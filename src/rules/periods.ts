import { addMonths, periodOfMs } from '../domain/rules/types';

/** The longest look-back of any rule, in months (REVERSE_INVOICE_LIMIT: 12 months). */
export const MAX_RULE_WINDOW_MONTHS = 12;

/**
 * The periods whose findings a change at `atMs` can affect: its own month and the following
 * months that a rolling window starting there reaches, but never past the data clock's month.
 * The clock's month and the one before are always included: time limits (7 and 30 days) ripen
 * there as the clock advances.
 */
export function periodsAffected(times: readonly number[], clockMs: number | null): string[] {
  const out = new Set<string>();
  const clockPeriod = clockMs === null ? null : periodOfMs(clockMs);
  for (const t of times) {
    const first = periodOfMs(t);
    const last = clockPeriod !== null && clockPeriod > first ? clockPeriod : first;
    for (let p = first, i = 0; p <= last && i <= MAX_RULE_WINDOW_MONTHS; p = addMonths(p, 1), i++) out.add(p);
  }
  if (clockPeriod !== null) {
    out.add(clockPeriod);
    out.add(addMonths(clockPeriod, -1));
  }
  return [...out].sort();
}
