import { addMonths, DAY_MS, periodOfMs } from '../domain/rules/types';

/** The longest look-back of any rule, in months (REVERSE_INVOICE_LIMIT: 12 months). */
export const MAX_RULE_WINDOW_MONTHS = 12;

/**
 * The longest time limit measured on the data clock, in days: MISSING_FLOW's `invoice_days` (30;
 * its payment and weighing limits, PAYMENT_MISMATCH's and INVOICE_WITHOUT_TRADE's `grace_days`
 * are 7). A setting that raises one of them past this must raise this too.
 */
export const MAX_GRACE_DAYS = 30;

/**
 * How far back from the data clock a time limit can have ripened, in days: the longest limit and
 * one day for the clock's last step (it moves with each batch's latest event, so a limit that
 * ripened since the last mark lies at most a step back). A record at t ripens when the clock
 * passes t + limit, so its month may be two months before the clock's: a trade on Jan 30 without
 * an invoice ripens on Mar 1.
 */
export const RIPENING_LOOKBACK_DAYS = MAX_GRACE_DAYS + 1;

/**
 * The months in which a time limit can ripen when the data clock is at `clockMs`: every month
 * that holds an instant within RIPENING_LOOKBACK_DAYS before the clock, up to the clock's month
 * (so always the clock's month and the one before, sometimes the one before that).
 */
export function periodsRipening(clockMs: number, previousClockMs: number | null = null): string[] {
  const last = periodOfMs(clockMs);
  // A clock that jumped (a platform silent for weeks) passed every limit since its previous value:
  // the months from there are marked too, at most MAX_RULE_WINDOW_MONTHS back.
  const from = Math.min(clockMs, previousClockMs ?? clockMs) - RIPENING_LOOKBACK_DAYS * DAY_MS;
  const earliest = addMonths(last, -MAX_RULE_WINDOW_MONTHS);
  let first = periodOfMs(from);
  if (first < earliest) first = earliest;
  const out: string[] = [];
  for (let p = first; p <= last; p = addMonths(p, 1)) out.push(p);
  return out;
}

/**
 * The periods whose findings a change at `atMs` can affect: its own month and the following
 * months that a rolling window starting there reaches, but never past the data clock's month;
 * and the months where time limits ripen as the clock advances from `previousClockMs`
 * (periodsRipening).
 */
export function periodsAffected(
  times: readonly number[],
  clockMs: number | null,
  previousClockMs: number | null = null,
): string[] {
  const out = new Set<string>();
  const clockPeriod = clockMs === null ? null : periodOfMs(clockMs);
  for (const t of times) {
    const first = periodOfMs(t);
    const last = clockPeriod !== null && clockPeriod > first ? clockPeriod : first;
    for (let p = first, i = 0; p <= last && i <= MAX_RULE_WINDOW_MONTHS; p = addMonths(p, 1), i++) out.add(p);
  }
  if (clockMs !== null) for (const p of periodsRipening(clockMs, previousClockMs)) out.add(p);
  return [...out].sort();
}
