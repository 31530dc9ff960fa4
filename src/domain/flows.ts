import { formatKg, formatMoney } from './money';
import { amountTolerance, DEFAULT_TOLERANCES, type Tolerances, weightTolerance } from './tolerances';

/**
 * The four flows of one trade (四流合一): the trade itself, funds (payments), goods (weighings)
 * and invoices. Pure: the caller loads what is linked to the trade and gets the statuses and
 * differences back.
 */
export type FlowStatus = 'matched' | 'partial' | 'missing' | 'mismatch';
export type OverallStatus = 'reconciled' | 'pending' | 'discrepant';

export interface FlowTrade {
  sellerKey: string;
  sellerName: string;
  sellerKind: 'enterprise' | 'natural_person';
  buyerKey: string;
  totalFen: bigint;
  quantityG: bigint;
  /** grams per material code */
  materials: ReadonlyMap<string, bigint>;
  taxTreatment: string;
  /** When the trade occurred, epoch ms: payments are due from a day before to 30 days after. */
  occurredAtMs: number;
}

export interface FlowPayment {
  paymentId: string;
  /** The part of the payment attributed to this trade (a payment may cover several trades). */
  amountFen: bigint;
  reversed: boolean;
  payeeKey: string | null;
  payeeName: string;
  payerKey: string | null;
  /** When it was paid, epoch ms. */
  paidAtMs: number;
}

export interface FlowWeighing {
  weighingId: string;
  netG: bigint;
}

export interface FlowInvoice {
  invoiceNo: string;
  sellerKey: string | null;
  buyerKey: string | null;
  /** Tax-inclusive amount attributed to this trade, after red-letter reversals. */
  totalFen: bigint;
  /** grams per material code attributed to this trade */
  materials: ReadonlyMap<string, bigint>;
  /** Fully reversed by red invoices. */
  voided: boolean;
  /**
   * How far its red-letter invoices go beyond it (tax-inclusive, > 0), which DOMAIN.md 3 says
   * never happens ("cumulative red never exceeds the blue"): shown as a difference, a mismatch.
   */
  overReversedFen?: bigint;
}

export interface FlowDifferences {
  amount?: { trade: string; paid: string; difference: string; tolerance: string };
  weight?: { trade_kg: string; weighed_kg: string; difference_kg: string; tolerance_kg: string };
  invoice_amount?: { trade: string; invoiced: string; difference: string; tolerance: string };
  invoice_quantity?: { trade_kg: string; invoiced_kg: string; difference_kg: string; tolerance_kg: string };
  material?: { trade: string[]; invoiced: string[] };
  party?: { flow: 'payment' | 'invoice'; document: string; expected: string; actual: string }[];
  /** Blue invoices reversed beyond their amount by red-letter ones (DOMAIN.md 3). */
  invoice_reversal?: { document: string; reversed_beyond: string }[];
  /** Payments made outside the trade's payment window (DOMAIN.md 6: −1 day … +30 days). */
  time?: { flow: 'payment'; document: string; paid_at: string; earliest: string; latest: string }[];
}

export interface FlowResult {
  payment: FlowStatus;
  weighing: FlowStatus;
  invoice: FlowStatus;
  /** Whether an invoice is expected at all: enterprise sellers and reverse-invoiced persons. */
  invoiceExpected: boolean;
  overall: OverallStatus;
  paidFen: bigint;
  weighedG: bigint;
  invoicedFen: bigint;
  /** Σ quantity on the live invoices attributed to the trade, grams. */
  invoicedG: bigint;
  differences: FlowDifferences;
}

function compare(actual: bigint, expected: bigint, tolerance: bigint): FlowStatus {
  if (actual > expected + tolerance) return 'mismatch';
  if (actual < expected - tolerance) return 'partial';
  return 'matched';
}

export function computeFlows(
  trade: FlowTrade,
  payments: readonly FlowPayment[],
  weighings: readonly FlowWeighing[],
  invoices: readonly FlowInvoice[],
  tol: Tolerances = DEFAULT_TOLERANCES,
): FlowResult {
  const differences: FlowDifferences = {};
  const parties: NonNullable<FlowDifferences['party']> = [];

  // Funds: payments net of reversals; a payee other than the seller, or a payer named as a party
  // other than the buyer (money from a third party: DOMAIN.md 2, the flows agree on parties), is
  // a wrong party.
  const live = payments.filter((p) => !p.reversed);
  const paidFen = live.reduce((s, p) => s + p.amountFen, 0n);
  let payment: FlowStatus = 'missing';
  if (live.length > 0) {
    const amountTol = amountTolerance(trade.totalFen, tol);
    payment = compare(paidFen, trade.totalFen, amountTol);
    if (payment !== 'matched') {
      differences.amount = {
        trade: formatMoney(trade.totalFen),
        paid: formatMoney(paidFen),
        difference: formatMoney(paidFen - trade.totalFen),
        tolerance: formatMoney(amountTol),
      };
    }
    for (const p of live) {
      const toSeller =
        p.payeeKey !== null ? p.payeeKey === trade.sellerKey : p.payeeName.trim() === trade.sellerName.trim();
      if (!toSeller) {
        parties.push({
          flow: 'payment',
          document: p.paymentId,
          expected: trade.sellerName,
          actual: p.payeeName,
        });
        payment = 'mismatch';
      }
      if (p.payerKey !== null && p.payerKey !== trade.buyerKey) {
        parties.push({
          flow: 'payment',
          document: p.paymentId,
          expected: trade.buyerKey,
          actual: p.payerKey,
        });
        payment = 'mismatch';
      }
    }
    // A payment far from its trade in time is not this trade's payment as declared.
    const earliest = trade.occurredAtMs - tol.paymentBeforeMs;
    const latest = trade.occurredAtMs + tol.paymentAfterMs;
    const late = live.filter((p) => p.paidAtMs < earliest || p.paidAtMs > latest);
    if (late.length > 0) {
      differences.time = late.map((p) => ({
        flow: 'payment' as const,
        document: p.paymentId,
        paid_at: new Date(p.paidAtMs).toISOString(),
        earliest: new Date(earliest).toISOString(),
        latest: new Date(latest).toISOString(),
      }));
      payment = 'mismatch';
    }
  }

  // Goods: Σ net of the weighbridge tickets against the traded quantity.
  const weighedG = weighings.reduce((s, w) => s + w.netG, 0n);
  let weighing: FlowStatus = 'missing';
  if (weighings.length > 0) {
    const wTol = weightTolerance(trade.quantityG, tol);
    weighing = compare(weighedG, trade.quantityG, wTol);
    if (weighing !== 'matched') {
      differences.weight = {
        trade_kg: formatKg(trade.quantityG),
        weighed_kg: formatKg(weighedG),
        difference_kg: formatKg(weighedG - trade.quantityG),
        tolerance_kg: formatKg(wTol),
      };
    }
  }

  // Invoice: amount, quantity, material (变票) and parties.
  const liveInvoices = invoices.filter((i) => !i.voided);
  const invoicedFen = liveInvoices.reduce((s, i) => s + i.totalFen, 0n);
  const invoiceExpected = trade.sellerKind === 'enterprise' || trade.taxTreatment === 'reverse_invoice';
  let invoice: FlowStatus = 'missing';
  let invoicedG = 0n;
  if (liveInvoices.length > 0) {
    const amountTol = amountTolerance(trade.totalFen, tol);
    invoice = compare(invoicedFen, trade.totalFen, amountTol);
    if (invoice !== 'matched') {
      differences.invoice_amount = {
        trade: formatMoney(trade.totalFen),
        invoiced: formatMoney(invoicedFen),
        difference: formatMoney(invoicedFen - trade.totalFen),
        tolerance: formatMoney(amountTol),
      };
    }
    const invoicedMaterials = new Map<string, bigint>();
    for (const i of liveInvoices) {
      for (const [m, g] of i.materials) invoicedMaterials.set(m, (invoicedMaterials.get(m) ?? 0n) + g);
    }
    const tradeCodes = [...trade.materials.keys()].sort();
    const invoiceCodes = [...invoicedMaterials.keys()].sort();
    if (invoiceCodes.some((m) => !trade.materials.has(m))) {
      differences.material = { trade: tradeCodes, invoiced: invoiceCodes };
      invoice = 'mismatch';
    }
    invoicedG = [...invoicedMaterials.values()].reduce((s, g) => s + g, 0n);
    const wTol = weightTolerance(trade.quantityG, tol);
    if (invoicedG > 0n && (invoicedG > trade.quantityG + wTol || invoicedG < trade.quantityG - wTol)) {
      differences.invoice_quantity = {
        trade_kg: formatKg(trade.quantityG),
        invoiced_kg: formatKg(invoicedG),
        difference_kg: formatKg(invoicedG - trade.quantityG),
        tolerance_kg: formatKg(wTol),
      };
      // More goods than traded is a mismatch; fewer is one too when the amount is already whole
      // (the invoice bills the full price for less), else it is an invoice issued in part.
      if (invoicedG > trade.quantityG + wTol || invoice === 'matched') invoice = 'mismatch';
    }
    for (const i of liveInvoices) {
      if (i.sellerKey !== null && i.sellerKey !== trade.sellerKey) {
        parties.push({
          flow: 'invoice',
          document: i.invoiceNo,
          expected: trade.sellerKey,
          actual: i.sellerKey,
        });
        invoice = 'mismatch';
      }
      if (i.buyerKey !== null && i.buyerKey !== trade.buyerKey) {
        parties.push({
          flow: 'invoice',
          document: i.invoiceNo,
          expected: trade.buyerKey,
          actual: i.buyerKey,
        });
        invoice = 'mismatch';
      }
    }
  }
  const overReversed = invoices.filter((i) => (i.overReversedFen ?? 0n) > 0n);
  if (overReversed.length > 0) {
    differences.invoice_reversal = overReversed.map((i) => ({
      document: i.invoiceNo,
      reversed_beyond: formatMoney(i.overReversedFen!),
    }));
    invoice = 'mismatch';
  }
  if (parties.length > 0) differences.party = parties;

  let overall: OverallStatus;
  if (payment === 'mismatch' || weighing === 'mismatch' || invoice === 'mismatch') overall = 'discrepant';
  else if (
    payment === 'matched' &&
    weighing === 'matched' &&
    (invoice === 'matched' || (!invoiceExpected && invoice === 'missing'))
  ) {
    overall = 'reconciled';
  } else overall = 'pending';

  return {
    payment,
    weighing,
    invoice,
    invoiceExpected,
    overall,
    paidFen,
    weighedG,
    invoicedFen,
    invoicedG,
    differences,
  };
}

/**
 * Splits `amount` over parts in proportion to `weights`, exactly: the parts sum to `amount`,
 * remainders go to the largest fractional parts (ties to the earlier part). Used to attribute a
 * payment or invoice that covers several trades.
 */
export function apportion(amount: bigint, weights: readonly bigint[]): bigint[] {
  const total = weights.reduce((s, w) => s + w, 0n);
  if (weights.length === 0) return [];
  if (total === 0n) return weights.map((_, i) => (i === 0 ? amount : 0n));
  const base = weights.map((w) => (amount * w) / total);
  let rest = amount - base.reduce((s, b) => s + b, 0n);
  const order = weights
    .map((w, i) => ({ i, r: (amount * w) % total }))
    .sort((a, b) => (a.r === b.r ? a.i - b.i : a.r > b.r ? -1 : 1));
  const step = rest >= 0n ? 1n : -1n;
  for (let k = 0; rest !== 0n; k = (k + 1) % order.length) {
    base[order[k]!.i]! += step;
    rest -= step;
  }
  return base;
}
