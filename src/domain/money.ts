/**
 * The one module that converts between wire decimal strings and exact integers.
 *
 * Units used everywhere inside Retrace:
 * - money: **fen** (分, 1/100 CNY) as `bigint`;
 * - quantities and weights: **grams** as `bigint` (the contract allows at most gram precision);
 * - unit prices: **1/10,000 CNY per unit** (t or kg) as `bigint`;
 * - tax rates: **basis points** (1/10,000) as `bigint`.
 *
 * No binary floating point is used anywhere in this file: every conversion is string ⇄ bigint and
 * every division rounds explicitly through {@link roundHalfUpDiv}.
 */

/** Money in fen (1/100 CNY). */
export type Fen = bigint;
/** Quantity or weight in grams. */
export type Grams = bigint;

export const QUANTITY_UNITS = ['t', 'kg'] as const;
export type QuantityUnit = (typeof QUANTITY_UNITS)[number];

export const FEN_PER_YUAN = 100n;
export const GRAMS_PER_KG = 1_000n;
export const GRAMS_PER_T = 1_000_000n;

/** Grams in one unit of the given kind. */
export function gramsPerUnit(unit: QuantityUnit): bigint {
  return unit === 't' ? GRAMS_PER_T : GRAMS_PER_KG;
}

/**
 * Unit price in 1/10,000 CNY per unit (t or kg, given by the line that carries it).
 *
 * Four decimals, not two: prices per kilogram are commonly quoted with three decimals
 * (`"2.355"` ¥/kg is ¥2,355/t), and some platforms quote a fourth. Money amounts themselves are
 * always whole fen; only the price may be finer.
 */
export interface UnitPrice {
  readonly tenThousandths: bigint;
}

/** Tax rate in basis points: 300n = 3% = "0.03". Always in [0, 10,000). */
export interface Rate {
  readonly basisPoints: bigint;
}

const TEN_THOUSAND = 10_000n;

// At most 15 integer digits: ¥999 trillion is far beyond any trade, and the cap keeps a hostile
// input from producing huge bigints. No leading zeros ("007"), no '+', no exponent, no spaces.
const MONEY_RE = /^(-?)(0|[1-9]\d{0,14})(?:\.(\d{1,2}))?$/;
const QUANTITY_RE_KG = /^(0|[1-9]\d{0,14})(?:\.(\d{1,3}))?$/;
const QUANTITY_RE_T = /^(0|[1-9]\d{0,14})(?:\.(\d{1,6}))?$/;
const UNIT_PRICE_RE = /^(0|[1-9]\d{0,14})(?:\.(\d{1,4}))?$/;
const RATE_RE = /^0(?:\.(\d{1,4}))?$/;

/** Wire patterns, exported so that schemas (and the OpenAPI document) show the same rules. */
export const MONEY_PATTERN = '^-?(0|[1-9]\\d{0,14})(\\.\\d{1,2})?$';
export const NON_NEGATIVE_MONEY_PATTERN = '^(0|[1-9]\\d{0,14})(\\.\\d{1,2})?$';
export const QUANTITY_PATTERN = '^(0|[1-9]\\d{0,14})(\\.\\d{1,6})?$';
export const KG_PATTERN = '^(0|[1-9]\\d{0,14})(\\.\\d{1,3})?$';
export const UNIT_PRICE_PATTERN = '^(0|[1-9]\\d{0,14})(\\.\\d{1,4})?$';
export const RATE_PATTERN = '^0(\\.\\d{1,4})?$';

/** Integer part and fraction digits (right-padded to `scale`) as one scaled bigint. */
function scaled(intPart: string, frac: string | undefined, scale: number): bigint {
  return BigInt(intPart + (frac ?? '').padEnd(scale, '0'));
}

/**
 * Parses a CNY decimal string (at most 2 decimals) into fen.
 * Negative values are refused unless `allowNegative` (red-letter invoices carry negative totals);
 * then "-0.00" is accepted and means zero.
 */
export function parseMoney(s: string, opts?: { allowNegative?: boolean }): Fen | null {
  const m = MONEY_RE.exec(s);
  if (!m) return null;
  const [, sign, intPart, frac] = m;
  if (sign === '-' && !opts?.allowNegative) return null;
  const v = scaled(intPart!, frac, 2);
  return sign === '-' ? -v : v;
}

/** Formats fen as a CNY decimal string with exactly 2 decimals: 725n → "7.25", -5n → "-0.05". */
export function formatMoney(fen: Fen): string {
  return formatScaled(fen, 2);
}

/** Formats a scaled integer with exactly `scale` decimals. */
function formatScaled(v: bigint, scale: number): string {
  const neg = v < 0n;
  const digits = (neg ? -v : v).toString().padStart(scale + 1, '0');
  const cut = digits.length - scale;
  return (neg ? '-' : '') + digits.slice(0, cut) + (scale > 0 ? '.' + digits.slice(cut) : '');
}

/** Like {@link formatScaled}, but drops trailing zeros beyond `minScale` decimals. */
function formatScaledTrim(v: bigint, scale: number, minScale: number): string {
  const full = formatScaled(v, scale);
  const dot = full.indexOf('.');
  let end = full.length;
  while (end > dot + 1 + minScale && full[end - 1] === '0') end--;
  if (end === dot + 1) end = dot; // no decimals left (only when minScale is 0)
  return full.slice(0, end);
}

/**
 * Parses a non-negative quantity in `unit` into grams. At most gram precision: 3 decimals for kg,
 * 6 for t.
 */
export function parseQuantity(s: string, unit: QuantityUnit): Grams | null {
  const m = (unit === 't' ? QUANTITY_RE_T : QUANTITY_RE_KG).exec(s);
  if (!m) return null;
  return scaled(m[1]!, m[2], unit === 't' ? 6 : 3);
}

/** Parses a non-negative kg decimal string (weighbridge weights) into grams. */
export function parseKg(s: string): Grams | null {
  return parseQuantity(s, 'kg');
}

/** Formats grams as kg with exactly 3 decimals: 1234567n → "1234.567". */
export function formatKg(grams: Grams): string {
  return formatScaled(grams, 3);
}

/**
 * Formats grams in `unit`: kg with 3 decimals, t with 6 decimals minus trailing zeros beyond 3
 * (12345000n t → "12.345", 1n t → "0.000001").
 */
export function formatQuantity(grams: Grams, unit: QuantityUnit): string {
  return unit === 't' ? formatScaledTrim(grams, 6, 3) : formatScaled(grams, 3);
}

/** Parses a non-negative unit price (CNY per unit, at most 4 decimals). */
export function parseUnitPrice(s: string): UnitPrice | null {
  const m = UNIT_PRICE_RE.exec(s);
  if (!m) return null;
  return { tenThousandths: scaled(m[1]!, m[2], 4) };
}

/** Formats a unit price with at least 2 and at most 4 decimals: "2200.00", "2.355". */
export function formatUnitPrice(price: UnitPrice): string {
  return formatScaledTrim(price.tenThousandths, 4, 2);
}

/**
 * Exact division rounded half-up: halves go away from zero, symmetrically for negatives
 * (0.5 → 1, −0.5 → −1, 1.4 → 1, −1.6 → −2). Every rounding in Retrace goes through here.
 * Throws RangeError on a zero denominator.
 */
export function roundHalfUpDiv(numerator: bigint, denominator: bigint): bigint {
  if (denominator === 0n) throw new RangeError('roundHalfUpDiv: division by zero');
  if (denominator < 0n) return roundHalfUpDiv(-numerator, -denominator);
  if (numerator < 0n) return -roundHalfUpDiv(-numerator, denominator);
  // Both non-negative: bigint division truncates, which here is floor((2n + d) / 2d) = round-half-up.
  return (2n * numerator + denominator) / (2n * denominator);
}

/**
 * A line's amount in fen: quantity (grams, expressed in `unit`) × unit price (CNY per `unit`),
 * rounded half-up to the fen.
 *
 * fen = grams / gramsPerUnit × tenThousandths / 10,000 × 100
 *     = grams × tenThousandths / (gramsPerUnit × 100)
 */
export function lineAmountFen(quantityGrams: Grams, unit: QuantityUnit, unitPrice: UnitPrice): Fen {
  return roundHalfUpDiv(quantityGrams * unitPrice.tenThousandths, gramsPerUnit(unit) * 100n);
}

/** Parses a tax rate in [0, 1) with at most 4 decimals ("0.03", "0.13", "0", "0.0050"). */
export function parseRate(s: string): Rate | null {
  const m = RATE_RE.exec(s);
  if (!m) return null;
  return { basisPoints: scaled('0', m[1], 4) };
}

/** Formats a rate with at least 2 and at most 4 decimals: 300n → "0.03", 0n → "0.00", 50n → "0.005". */
export function formatRate(rate: Rate): string {
  return formatScaledTrim(rate.basisPoints, 4, 2);
}

/** Tax on an amount excluding VAT (fen), half-up to the fen. Negative amounts (red invoices) are symmetric. */
export function taxOf(amountExFen: Fen, rate: Rate): Fen {
  return roundHalfUpDiv(amountExFen * rate.basisPoints, TEN_THOUSAND);
}

/** Amount excluding VAT from a tax-inclusive total: total ÷ (1 + rate), half-up to the fen (DOMAIN.md §5). */
export function exTaxFromInclusive(totalFen: Fen, rate: Rate): Fen {
  return roundHalfUpDiv(totalFen * TEN_THOUSAND, TEN_THOUSAND + rate.basisPoints);
}
