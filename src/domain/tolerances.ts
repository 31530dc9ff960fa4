/**
 * Reconciliation tolerances (DOMAIN.md section 6). Defaults here; the rule engine's settings
 * table (with effective periods) overrides them where an administrator changed them.
 */
export interface Tolerances {
  /** Amount tolerance: max(amountMinFen, total × amountBasisPoints / 10 000). */
  amountMinFen: bigint;
  amountBasisPoints: bigint;
  /** Weight tolerance: max(weightMinG, quantity × weightBasisPoints / 10 000). */
  weightMinG: bigint;
  weightBasisPoints: bigint;
  /** A payment may be made from 1 day before to 30 days after the trade. */
  paymentBeforeMs: number;
  paymentAfterMs: number;
  /** An undeclared invoice is matched to trades from 90 days before to 7 days after its issue. */
  invoiceBeforeMs: number;
  invoiceAfterMs: number;
}

const DAY = 86_400_000;

export const DEFAULT_TOLERANCES: Tolerances = {
  amountMinFen: 100n,
  amountBasisPoints: 50n,
  weightMinG: 20_000n,
  weightBasisPoints: 100n,
  paymentBeforeMs: DAY,
  paymentAfterMs: 30 * DAY,
  invoiceBeforeMs: 90 * DAY,
  invoiceAfterMs: 7 * DAY,
};

const maxBig = (a: bigint, b: bigint) => (a > b ? a : b);
const abs = (a: bigint) => (a < 0n ? -a : a);

export function amountTolerance(totalFen: bigint, t: Tolerances = DEFAULT_TOLERANCES): bigint {
  return maxBig(t.amountMinFen, (abs(totalFen) * t.amountBasisPoints) / 10_000n);
}

export function weightTolerance(quantityG: bigint, t: Tolerances = DEFAULT_TOLERANCES): bigint {
  return maxBig(t.weightMinG, (abs(quantityG) * t.weightBasisPoints) / 10_000n);
}

export function withinAmount(a: bigint, b: bigint, t: Tolerances = DEFAULT_TOLERANCES): boolean {
  return abs(a - b) <= amountTolerance(b, t);
}

export function withinWeight(a: bigint, b: bigint, t: Tolerances = DEFAULT_TOLERANCES): boolean {
  return abs(a - b) <= weightTolerance(b, t);
}
