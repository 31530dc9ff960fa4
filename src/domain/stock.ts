/**
 * Monthly stock (mass balance) of one (party, material) stream, in grams (DOMAIN.md section 6).
 *
 * Months are Asia/Shanghai calendar months (UTC+8 all year, no DST). Per month:
 *   closing = opening + in − (out − unsourcedOut)
 * Purchases are `in`; sales are `out`. The unsourced part of a sale (from allocation) never came
 * from stock, so it does not consume stock: stock can therefore never go negative. The first
 * month's opening is everything bought minus everything sold from stock before it. A closing below
 * zero can only mean the unsourced quantities do not belong to these purchases and sales (for
 * instance, stale allocations), and is rejected rather than shown.
 */
import { refKey, type StreamEntry } from './allocation';
import { SHANGHAI_OFFSET_MS } from './time';

/** 'YYYY-MM' of an epoch-millisecond instant, in Asia/Shanghai. */
export function monthOf(atMs: number): string {
  if (!Number.isSafeInteger(atMs)) throw new RangeError(`atMs must be an integer, got ${atMs}`);
  const d = new Date(atMs + SHANGHAI_OFFSET_MS);
  const year = d.getUTCFullYear();
  if (Number.isNaN(year) || year < 0 || year > 9999) throw new RangeError(`atMs out of range: ${atMs}`);
  return `${String(year).padStart(4, '0')}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

const PERIOD = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** Months since year 0 of a 'YYYY-MM' period. */
function periodIndex(period: string): number {
  const m = PERIOD.exec(period);
  if (!m) throw new RangeError(`period must be YYYY-MM, got ${JSON.stringify(period)}`);
  return Number(m[1]) * 12 + Number(m[2]) - 1;
}

function periodOf(index: number): string {
  return `${String(Math.floor(index / 12)).padStart(4, '0')}-${String((index % 12) + 1).padStart(2, '0')}`;
}

export interface StockMonth {
  /** 'YYYY-MM', Asia/Shanghai. */
  period: string;
  openingG: bigint;
  /** Purchases in the month. */
  inG: bigint;
  /** Sales in the month, including their unsourced part. */
  outG: bigint;
  closingG: bigint;
  /** The unsourced part of the month's sales (it did not come from stock). */
  unsourcedOutG: bigint;
}

/**
 * One row per month from `fromPeriod` to `toPeriod` inclusive, months without trades included.
 * `unsourced` maps a sale's `refKey` to its unsourced grams (absent: 0); keys of trades that are not
 * among `sales` are ignored. Pass the whole stream up to `toPeriod` (earlier entries make the
 * opening; later ones are ignored).
 */
export function monthlyStock(
  purchases: readonly StreamEntry[],
  sales: readonly StreamEntry[],
  unsourced: ReadonlyMap<string, bigint>,
  fromPeriod: string,
  toPeriod: string,
): StockMonth[] {
  const from = periodIndex(fromPeriod);
  const to = periodIndex(toPeriod);
  if (from > to) throw new RangeError(`fromPeriod ${fromPeriod} is after toPeriod ${toPeriod}`);

  const months = Array.from({ length: to - from + 1 }, () => ({ inG: 0n, outG: 0n, unsourcedOutG: 0n }));
  let opening = 0n;
  const bucket = (atMs: number): number => periodIndex(monthOf(atMs));

  const seen = new Set<string>();
  const checkEntry = (e: StreamEntry, what: string): void => {
    const key = `${what}|${refKey(e.ref)}`;
    if (seen.has(key)) throw new RangeError(`duplicate ${what} ${refKey(e.ref)}`);
    seen.add(key);
    if (typeof e.quantityG !== 'bigint' || e.quantityG < 0n) {
      throw new RangeError(`${what} ${refKey(e.ref)}: grams must be a bigint ≥ 0`);
    }
  };

  for (const p of purchases) {
    checkEntry(p, 'purchase');
    const i = bucket(p.atMs);
    if (i < from) opening += p.quantityG;
    else if (i <= to) months[i - from]!.inG += p.quantityG;
  }
  for (const s of sales) {
    checkEntry(s, 'sale');
    const u = unsourced.get(refKey(s.ref)) ?? 0n;
    if (u < 0n || u > s.quantityG) {
      throw new RangeError(`unsourced part of sale ${refKey(s.ref)} must be within 0..its quantity`);
    }
    const i = bucket(s.atMs);
    if (i < from) opening -= s.quantityG - u;
    else if (i <= to) {
      const m = months[i - from]!;
      m.outG += s.quantityG;
      m.unsourcedOutG += u;
    }
  }
  if (opening < 0n) throw new RangeError(`negative stock before ${fromPeriod}: unsourced parts do not fit`);

  return months.map((m, k) => {
    const period = periodOf(from + k);
    const closingG = opening + m.inG - (m.outG - m.unsourcedOutG);
    if (closingG < 0n) throw new RangeError(`negative stock in ${period}: unsourced parts do not fit`);
    const row: StockMonth = { period, openingG: opening, ...m, closingG };
    opening = closingG;
    return row;
  });
}
