/**
 * The monthly VAT reference sheet of one party (CONTRACT.md section 3, `GET /v1/parties/{key}/summary`).
 *
 * Pure and deterministic: the repository loads the inputs (src/repositories/parties-query.repository.ts),
 * this module does every sum, rounding and ratio. All money is bigint fen, all quantities bigint
 * grams; every division rounds half-up through `roundHalfUpDiv` (src/domain/money.ts). The
 * period is an Asia/Shanghai calendar month. Reference data with evidence, never a tax
 * determination: each figure says how it was computed (docs/api.md, and the OpenAPI descriptions).
 *
 * The figures:
 * - purchases / sales by material: the party's active trades of the month as buyer / seller,
 *   per trade line (a multi-material trade contributes each line to its material);
 *   `from_natural_persons` = purchases whose seller is a natural person; `reverse_invoiced` = trades
 *   declared under the `reverse_invoice` treatment.
 * - stock by material: opening + in − (out − unsourced out) = closing (monthlyStock, src/domain/stock.ts);
 *   unsourced parts come from the allocation (sale_results), or, while a stream waits for
 *   re-allocation, from allocating the stream's current entries here (same function as processing).
 * - flow coverage: of the party's trades of the month, the share (by count and by amount) whose
 *   payment / weighing / invoice flow is `matched`; invoices only over trades that expect one.
 * - output tax by treatment: per sale, ex = total ÷ (1 + levy rate valid on the trade's date),
 *   half-up to the fen; tax = total − ex; summed per (treatment, rate).
 * - input tax on received invoices: blue invoices to the party issued in the month, plus red
 *   invoices issued in the month that reverse a blue one to the party (negative): Σ total_tax.
 * - reverse-invoice withholding: per natural person, Σ ex of the month's reverse-invoiced trades;
 *   exempt when ≤ the monthly exemption, else VAT = ex × levy rate (half-up); IIT = ex × 0.5%.
 * - anomalies: open and confirmed findings of the party for the period, counted by rule.
 */
import { allocateStream, refKey, type Sale, type StreamEntry } from './allocation';
import {
  exTaxFromInclusive,
  type Fen,
  formatKg,
  formatMoney,
  formatRate,
  type Grams,
  parseRate,
  type Rate,
  roundHalfUpDiv,
  taxOf,
} from './money';
import { monthlyStock } from './stock';

// ---------------------------------------------------------------------------------------------
// Periods
// ---------------------------------------------------------------------------------------------

/** Asia/Shanghai is UTC+8 all year (no DST since 1991). */
const SHANGHAI_OFFSET_MS = 8 * 3600_000;

/** `YYYY-MM` with a year from 1900 to 2999: anything else is not a period this API answers. */
export const PERIOD_PATTERN = /^(19\d{2}|2\d{3})-(0[1-9]|1[0-2])$/;

export function isPeriod(s: string): boolean {
  return PERIOD_PATTERN.test(s);
}

/** The instants bounding an Asia/Shanghai month: [startMs, endMs). Throws RangeError on a bad period. */
export function periodBounds(period: string): { startMs: number; endMs: number } {
  const m = PERIOD_PATTERN.exec(period);
  if (!m) throw new RangeError(`period must be YYYY-MM, got ${JSON.stringify(period)}`);
  const year = Number(m[1]);
  const month = Number(m[2]);
  // Date.UTC maps years 0–99 to 1900–1999; the pattern keeps years ≥ 1900, so no surprise here.
  return {
    startMs: Date.UTC(year, month - 1, 1) - SHANGHAI_OFFSET_MS,
    endMs: Date.UTC(year, month, 1) - SHANGHAI_OFFSET_MS,
  };
}

/** The Asia/Shanghai calendar date ('YYYY-MM-DD') of an instant. */
export function shanghaiDate(atMs: number): string {
  return new Date(atMs + SHANGHAI_OFFSET_MS).toISOString().slice(0, 10);
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

export type FlowStatus = 'matched' | 'partial' | 'missing' | 'mismatch';

export interface SheetTrade {
  platform: string;
  tradeId: string;
  /** occurred_at, epoch ms. */
  atMs: number;
  sellerKey: string;
  sellerKind: 'enterprise' | 'natural_person';
  sellerName: string;
  buyerKey: string;
  totalFen: Fen;
  taxTreatment: string;
  /** Lines as stored (lines of one material may repeat; they are summed). */
  lines: readonly { material: string; quantityG: Grams; amountFen: Fen }[];
  /** The trade's flow statuses; null when not computed yet (counts as not matched). */
  flows: { payment: string; weighing: string; invoice: string } | null;
}

export interface TreatmentRow {
  code: string;
  /** 'YYYY-MM-DD', Asia/Shanghai calendar date, inclusive. */
  validFrom: string;
  /** 'YYYY-MM-DD' inclusive, or null: open-ended. */
  validTo: string | null;
  /** Exact decimal, e.g. "0.0300". */
  levyRate: string;
  monthlyExemptionFen: Fen | null;
}

/**
 * One material's stream as plain sums (what the repository computes in SQL), for a stream that
 * does not wait for re-allocation. The sheet's stock row is a sum of these (see `stockFromSums`);
 * when they do not fit (a negative stock, an unsourced part outside 0..its sale), the caller loads
 * the whole stream instead (`StockStreamInput`), which is then re-allocated on the spot.
 */
export interface StockSumsInput {
  material: string;
  sums: {
    /** Σ purchases before the period, grams. */
    purchasesBeforeG: Grams;
    /** Σ (sale − its unsourced part) over the sales before the period, grams. */
    salesFromStockBeforeG: Grams;
    /** Σ purchases in the period. */
    inG: Grams;
    /** Σ sales in the period, unsourced part included. */
    outG: Grams;
    /** Σ unsourced part of the period's sales. */
    unsourcedOutG: Grams;
    /** Every entry has grams ≥ 0 and every sale's unsourced part lies within 0..its grams. */
    entriesValid: boolean;
  };
}

/**
 * The month's stock from sums: the same figures as `monthlyStock` over the whole stream with the
 * allocation's unsourced parts, or null where monthlyStock would reject them (then the stream must
 * be allocated from its entries).
 */
export function stockFromSums(s: StockSumsInput['sums']): {
  openingG: Grams;
  inG: Grams;
  outG: Grams;
  unsourcedOutG: Grams;
  closingG: Grams;
} | null {
  if (!s.entriesValid) return null;
  const openingG = s.purchasesBeforeG - s.salesFromStockBeforeG;
  if (openingG < 0n) return null;
  const closingG = openingG + s.inG - (s.outG - s.unsourcedOutG);
  if (closingG < 0n) return null;
  return { openingG, inG: s.inG, outG: s.outG, unsourcedOutG: s.unsourcedOutG, closingG };
}

export interface StockStreamInput {
  material: string;
  /** Every purchase and sale of the stream up to the end of the period (active trades). */
  purchases: readonly StreamEntry[];
  sales: readonly Sale[];
  /** Unsourced grams per sale (`refKey`) from the allocation (sale_results). */
  unsourced: ReadonlyMap<string, Grams>;
  /** The stream waits for re-allocation (a stream_dirty mark): sale_results may be stale. */
  dirty: boolean;
}

export interface SheetInvoice {
  platform: string;
  invoiceNo: string;
  kind: 'special' | 'ordinary' | 'reverse' | 'red';
  totalExTaxFen: Fen;
  totalTaxFen: Fen;
  totalFen: Fen;
}

export interface AnomalyCountRow {
  rule: string;
  status: string;
  severity: string;
  count: number;
}

export interface ReferenceSheetInput {
  party: { key: string; kind: 'enterprise' | 'natural_person'; name: string; division: string };
  period: string;
  /** The party's active trades (as seller or buyer) with occurred_at in the period. */
  trades: readonly SheetTrade[];
  treatments: readonly TreatmentRow[];
  /** Per material: sums (a settled stream), or the whole stream (pending or not fitting its sums). */
  stock: readonly (StockStreamInput | StockSumsInput)[];
  /** Blue invoices (special, ordinary, reverse) to the party issued in the period. */
  blueInvoicesReceived: readonly SheetInvoice[];
  /** Red invoices issued in the period that reverse a blue invoice to the party. */
  redInvoicesReceived: readonly SheetInvoice[];
  /** Findings of the party for the period with status open or confirmed. */
  anomalies: readonly AnomalyCountRow[];
}

// ---------------------------------------------------------------------------------------------
// Output (wire form: decimal strings)
// ---------------------------------------------------------------------------------------------

export interface AmountQty {
  amount: string;
  quantity_kg: string;
}

export interface PurchaseRow extends AmountQty {
  material: string;
  trades: number;
  from_natural_persons: AmountQty;
  reverse_invoiced: AmountQty;
}

export interface SaleRow extends AmountQty {
  material: string;
  trades: number;
  reverse_invoiced: AmountQty;
}

export interface StockRow {
  material: string;
  opening_kg: string;
  in_kg: string;
  out_kg: string;
  unsourced_out_kg: string;
  closing_kg: string;
  allocation_pending: boolean;
}

export interface CoverageFlow {
  matched_trades: number;
  trade_ratio: string | null;
  amount_ratio: string | null;
}

export interface OutputTaxRow {
  treatment: string;
  levy_rate: string | null;
  trades: number;
  amount: string;
  amount_ex_tax: string | null;
  tax: string | null;
}

export interface InvoiceTotals {
  invoices: number;
  amount_ex_tax: string;
  tax: string;
  amount: string;
}

export interface WithholdingRow {
  party_key: string;
  name: string;
  trades: number;
  amount: string;
  amount_ex_tax: string;
  monthly_exemption: string | null;
  exempt: boolean;
  vat_rate: string | null;
  vat: string;
  iit: string;
}

export interface ReferenceSheet {
  party: { key: string; kind: 'enterprise' | 'natural_person'; name: string; division: string };
  period: string;
  purchases: {
    total: Omit<PurchaseRow, 'material'>;
    by_material: PurchaseRow[];
  };
  sales: {
    total: Omit<SaleRow, 'material'>;
    by_material: SaleRow[];
  };
  stock: StockRow[];
  flow_coverage: {
    trades: number;
    amount: string;
    payment: CoverageFlow;
    weighing: CoverageFlow;
    invoice: CoverageFlow & { expected_trades: number; expected_amount: string };
  };
  tax: {
    output_by_treatment: OutputTaxRow[];
    output_total: { trades: number; amount: string; amount_ex_tax: string; tax: string };
    output_unrated: { trades: number; amount: string };
    input_on_received_invoices: {
      by_kind: (InvoiceTotals & { kind: string })[];
      blue: InvoiceTotals;
      red: InvoiceTotals;
      net: InvoiceTotals;
    };
    reverse_invoice_withholding: {
      basis: 'purchases_from_natural_persons' | 'own_sales';
      persons: WithholdingRow[];
      total: { trades: number; amount: string; amount_ex_tax: string; vat: string; iit: string };
      unrated: { trades: number; amount: string };
    };
  };
  anomalies: { rule: string; open: number; confirmed: number; total: number; highest_severity: Severity }[];
}

// ---------------------------------------------------------------------------------------------
// Computation
// ---------------------------------------------------------------------------------------------

/**
 * The code, in the `tax_treatments` reference data, of the individual income tax prepaid on
 * reverse-invoiced sales (0.5% from 2024-04-29, 税务总局公告2024年第5号). The rate in force on the
 * period's first day applies; without one, nothing is computed as withheld.
 */
export const IIT_PREPAY_CODE = 'iit_reverse_invoice';

const RATIO_SCALE = 10_000n;

/** n / d as a decimal string with 4 decimals, half-up ("0.9750"); null when d is 0. */
export function formatRatio(n: bigint, d: bigint): string | null {
  if (d === 0n) return null;
  const q = roundHalfUpDiv(n * RATIO_SCALE, d);
  return `${q / RATIO_SCALE}.${(q % RATIO_SCALE).toString().padStart(4, '0')}`;
}

/**
 * The treatment row valid on `date` ('YYYY-MM-DD', both ends inclusive); the latest `validFrom`
 * wins if an administrator left rows overlapping.
 */
export function treatmentOn(
  rows: readonly TreatmentRow[],
  code: string,
  date: string,
): (TreatmentRow & { rate: Rate }) | null {
  let best: TreatmentRow | null = null;
  for (const r of rows) {
    if (r.code !== code || r.validFrom > date || (r.validTo !== null && date > r.validTo)) continue;
    if (!best || r.validFrom > best.validFrom) best = r;
  }
  if (!best) return null;
  const rate = parseRate(stripZeros(best.levyRate));
  return rate ? { ...best, rate } : null;
}

/**
 * `treatmentOn` for a trade's instant, remembered per (code, Asia/Shanghai day): a month's
 * thousands of trades fall on at most 31 days, and the lookup parses the rate each time.
 */
function treatmentsByDay(rows: readonly TreatmentRow[]) {
  const memo = new Map<string, ReturnType<typeof treatmentOn>>();
  return (code: string, atMs: number) => {
    const k = `${code}|${Math.floor((atMs + SHANGHAI_OFFSET_MS) / 86_400_000)}`;
    if (memo.has(k)) return memo.get(k)!;
    const tr = treatmentOn(rows, code, shanghaiDate(atMs));
    memo.set(k, tr);
    return tr;
  };
}

/** "0.0300" → "0.03", "0.0000" → "0", "0" → "0": what parseRate accepts. */
function stripZeros(s: string): string {
  if (!s.includes('.')) return s;
  const t = s.replace(/0+$/, '');
  return t.endsWith('.') ? t.slice(0, -1) : t;
}

interface Acc {
  fen: bigint;
  g: bigint;
}
const zero = (): Acc => ({ fen: 0n, g: 0n });
const add = (a: Acc, fen: bigint, g: bigint) => {
  a.fen += fen;
  a.g += g;
};
const wireAQ = (a: Acc): AmountQty => ({ amount: formatMoney(a.fen), quantity_kg: formatKg(a.g) });

/** Per material of a trade: the lines of one material summed. */
function perMaterial(t: SheetTrade): Map<string, Acc> {
  const m = new Map<string, Acc>();
  for (const l of t.lines) {
    const a = m.get(l.material) ?? zero();
    if (!m.has(l.material)) m.set(l.material, a);
    add(a, l.amountFen, l.quantityG);
  }
  return m;
}

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const SEVERITY_ORDER = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITY_ORDER)[number];

export function computeReferenceSheet(input: ReferenceSheetInput): ReferenceSheet {
  const { party } = input;
  periodBounds(input.period); // validates the period
  const rated = treatmentsByDay(input.treatments);
  const purchases = input.trades.filter((t) => t.buyerKey === party.key);
  const sales = input.trades.filter((t) => t.sellerKey === party.key);

  // --- purchases and sales by material -------------------------------------------------------
  const purchaseRows = new Map<string, { all: Acc; np: Acc; rev: Acc; trades: number }>();
  const purchaseTotal = { all: zero(), np: zero(), rev: zero(), trades: 0 };
  for (const t of purchases) {
    purchaseTotal.trades += 1;
    const np = t.sellerKind === 'natural_person';
    const rev = t.taxTreatment === 'reverse_invoice';
    for (const [material, a] of perMaterial(t)) {
      let row = purchaseRows.get(material);
      if (!row) {
        row = { all: zero(), np: zero(), rev: zero(), trades: 0 };
        purchaseRows.set(material, row);
      }
      row.trades += 1;
      for (const target of [row, purchaseTotal]) {
        add(target.all, a.fen, a.g);
        if (np) add(target.np, a.fen, a.g);
        if (rev) add(target.rev, a.fen, a.g);
      }
    }
  }
  const saleRows = new Map<string, { all: Acc; rev: Acc; trades: number }>();
  const saleTotal = { all: zero(), rev: zero(), trades: 0 };
  for (const t of sales) {
    saleTotal.trades += 1;
    const rev = t.taxTreatment === 'reverse_invoice';
    for (const [material, a] of perMaterial(t)) {
      let row = saleRows.get(material);
      if (!row) {
        row = { all: zero(), rev: zero(), trades: 0 };
        saleRows.set(material, row);
      }
      row.trades += 1;
      for (const target of [row, saleTotal]) {
        add(target.all, a.fen, a.g);
        if (rev) add(target.rev, a.fen, a.g);
      }
    }
  }

  // --- stock ---------------------------------------------------------------------------------
  const stock: StockRow[] = [];
  for (const s of [...input.stock].sort((a, b) => byString(a.material, b.material))) {
    const row = stockRow(s, input.period);
    if (
      row.opening_kg === '0.000' &&
      row.in_kg === '0.000' &&
      row.out_kg === '0.000' &&
      row.closing_kg === '0.000'
    )
      continue;
    stock.push(row);
  }

  // --- flow coverage -------------------------------------------------------------------------
  const distinct = uniqueTrades(input.trades);
  let allFen = 0n;
  const matched = { payment: { n: 0n, fen: 0n }, weighing: { n: 0n, fen: 0n }, invoice: { n: 0n, fen: 0n } };
  let invoiceExpectedN = 0n;
  let invoiceExpectedFen = 0n;
  for (const t of distinct) {
    allFen += t.totalFen;
    if (t.flows?.payment === 'matched') {
      matched.payment.n += 1n;
      matched.payment.fen += t.totalFen;
    }
    if (t.flows?.weighing === 'matched') {
      matched.weighing.n += 1n;
      matched.weighing.fen += t.totalFen;
    }
    // Same rule as computeFlows (src/domain/flows.ts): an invoice is expected from an enterprise
    // seller, and for a natural person's reverse-invoiced sale.
    if (t.sellerKind === 'enterprise' || t.taxTreatment === 'reverse_invoice') {
      invoiceExpectedN += 1n;
      invoiceExpectedFen += t.totalFen;
      if (t.flows?.invoice === 'matched') {
        matched.invoice.n += 1n;
        matched.invoice.fen += t.totalFen;
      }
    }
  }
  const n = BigInt(distinct.length);
  const coverage = (m: { n: bigint; fen: bigint }, dn: bigint, dfen: bigint): CoverageFlow => ({
    matched_trades: Number(m.n),
    trade_ratio: formatRatio(m.n, dn),
    amount_ratio: formatRatio(m.fen, dfen),
  });

  // --- output tax by treatment ---------------------------------------------------------------
  const outputGroups = new Map<
    string,
    { treatment: string; rate: Rate | null; trades: number; fen: bigint; ex: bigint; tax: bigint }
  >();
  const outputUnrated = { trades: 0, fen: 0n };
  for (const t of sales) {
    const tr = rated(t.taxTreatment, t.atMs);
    const key = `${t.taxTreatment}|${tr ? tr.rate.basisPoints : '-'}`;
    let g = outputGroups.get(key);
    if (!g) {
      g = { treatment: t.taxTreatment, rate: tr?.rate ?? null, trades: 0, fen: 0n, ex: 0n, tax: 0n };
      outputGroups.set(key, g);
    }
    g.trades += 1;
    g.fen += t.totalFen;
    if (tr) {
      const ex = exTaxFromInclusive(t.totalFen, tr.rate);
      g.ex += ex;
      g.tax += t.totalFen - ex;
    } else {
      outputUnrated.trades += 1;
      outputUnrated.fen += t.totalFen;
    }
  }
  const outputRows = [...outputGroups.values()].sort(
    (a, b) =>
      byString(a.treatment, b.treatment) ||
      Number((a.rate?.basisPoints ?? -1n) - (b.rate?.basisPoints ?? -1n)),
  );
  const outputTotal = { trades: 0, fen: 0n, ex: 0n, tax: 0n };
  for (const g of outputRows) {
    if (!g.rate) continue;
    outputTotal.trades += g.trades;
    outputTotal.fen += g.fen;
    outputTotal.ex += g.ex;
    outputTotal.tax += g.tax;
  }

  // --- input tax on received invoices --------------------------------------------------------
  const totals = (list: readonly SheetInvoice[]) => {
    const a = { invoices: 0, ex: 0n, tax: 0n, fen: 0n };
    for (const i of list) {
      a.invoices += 1;
      a.ex += i.totalExTaxFen;
      a.tax += i.totalTaxFen;
      a.fen += i.totalFen;
    }
    return a;
  };
  const wireTotals = (a: ReturnType<typeof totals>): InvoiceTotals => ({
    invoices: a.invoices,
    amount_ex_tax: formatMoney(a.ex),
    tax: formatMoney(a.tax),
    amount: formatMoney(a.fen),
  });
  const blue = totals(input.blueInvoicesReceived);
  const red = totals(input.redInvoicesReceived);
  const kinds = [...new Set(input.blueInvoicesReceived.map((i) => i.kind))].sort(byString);

  // --- reverse-invoice withholding -----------------------------------------------------------
  const basis = party.kind === 'natural_person' ? 'own_sales' : 'purchases_from_natural_persons';
  const withheldTrades =
    basis === 'own_sales'
      ? sales.filter((t) => t.taxTreatment === 'reverse_invoice')
      : purchases.filter((t) => t.sellerKind === 'natural_person' && t.taxTreatment === 'reverse_invoice');
  const persons = new Map<
    string,
    {
      name: string;
      trades: number;
      fen: bigint;
      ex: bigint;
      exByRate: Map<bigint, bigint>;
      last: { atMs: number; exemption: bigint | null; rate: Rate } | null;
    }
  >();
  const withholdingUnrated = { trades: 0, fen: 0n };
  for (const t of withheldTrades) {
    const tr = rated('reverse_invoice', t.atMs);
    if (!tr) {
      withholdingUnrated.trades += 1;
      withholdingUnrated.fen += t.totalFen;
      continue;
    }
    let p = persons.get(t.sellerKey);
    if (!p) {
      p = { name: t.sellerName, trades: 0, fen: 0n, ex: 0n, exByRate: new Map(), last: null };
      persons.set(t.sellerKey, p);
    }
    const ex = exTaxFromInclusive(t.totalFen, tr.rate);
    p.trades += 1;
    p.fen += t.totalFen;
    p.ex += ex;
    p.exByRate.set(tr.rate.basisPoints, (p.exByRate.get(tr.rate.basisPoints) ?? 0n) + ex);
    if (!p.last || t.atMs >= p.last.atMs)
      p.last = { atMs: t.atMs, exemption: tr.monthlyExemptionFen, rate: tr.rate };
  }
  const personRows: WithholdingRow[] = [];
  const withholdingTotal = { trades: 0, fen: 0n, ex: 0n, vat: 0n, iit: 0n };
  const monthStart = new Date(periodBounds(input.period).startMs + SHANGHAI_OFFSET_MS)
    .toISOString()
    .slice(0, 10);
  const iitRate: Rate = treatmentOn(input.treatments, IIT_PREPAY_CODE, monthStart)?.rate ?? {
    basisPoints: 0n,
  };
  for (const [key, p] of [...persons].sort(([a], [b]) => byString(a, b))) {
    // The exemption in force on the person's last reverse-invoiced trade of the month.
    const exemption = p.last?.exemption ?? null;
    const exempt = exemption !== null && p.ex <= exemption;
    // VAT per levy rate (one rate unless an administrator changed it within the month).
    let vat = 0n;
    if (!exempt) for (const [bp, ex] of p.exByRate) vat += taxOf(ex, { basisPoints: bp });
    const iit = taxOf(p.ex, iitRate);
    personRows.push({
      party_key: key,
      name: p.name,
      trades: p.trades,
      amount: formatMoney(p.fen),
      amount_ex_tax: formatMoney(p.ex),
      monthly_exemption: exemption === null ? null : formatMoney(exemption),
      exempt,
      vat_rate: p.exByRate.size === 1 && p.last ? formatRate(p.last.rate) : null,
      vat: formatMoney(vat),
      iit: formatMoney(iit),
    });
    withholdingTotal.trades += p.trades;
    withholdingTotal.fen += p.fen;
    withholdingTotal.ex += p.ex;
    withholdingTotal.vat += vat;
    withholdingTotal.iit += iit;
  }

  // --- anomalies -----------------------------------------------------------------------------
  const rules = new Map<string, { open: number; confirmed: number; severity: number }>();
  for (const a of input.anomalies) {
    if (a.status !== 'open' && a.status !== 'confirmed') continue;
    const r = rules.get(a.rule) ?? { open: 0, confirmed: 0, severity: -1 };
    rules.set(a.rule, r);
    if (a.status === 'open') r.open += a.count;
    else r.confirmed += a.count;
    r.severity = Math.max(r.severity, SEVERITY_ORDER.indexOf(a.severity as Severity));
  }

  return {
    party: { ...party },
    period: input.period,
    purchases: {
      total: {
        trades: purchaseTotal.trades,
        ...wireAQ(purchaseTotal.all),
        from_natural_persons: wireAQ(purchaseTotal.np),
        reverse_invoiced: wireAQ(purchaseTotal.rev),
      },
      by_material: [...purchaseRows]
        .sort(([a], [b]) => byString(a, b))
        .map(([material, r]) => ({
          material,
          trades: r.trades,
          ...wireAQ(r.all),
          from_natural_persons: wireAQ(r.np),
          reverse_invoiced: wireAQ(r.rev),
        })),
    },
    sales: {
      total: { trades: saleTotal.trades, ...wireAQ(saleTotal.all), reverse_invoiced: wireAQ(saleTotal.rev) },
      by_material: [...saleRows]
        .sort(([a], [b]) => byString(a, b))
        .map(([material, r]) => ({
          material,
          trades: r.trades,
          ...wireAQ(r.all),
          reverse_invoiced: wireAQ(r.rev),
        })),
    },
    stock,
    flow_coverage: {
      trades: distinct.length,
      amount: formatMoney(allFen),
      payment: coverage(matched.payment, n, allFen),
      weighing: coverage(matched.weighing, n, allFen),
      invoice: {
        expected_trades: Number(invoiceExpectedN),
        expected_amount: formatMoney(invoiceExpectedFen),
        ...coverage(matched.invoice, invoiceExpectedN, invoiceExpectedFen),
      },
    },
    tax: {
      output_by_treatment: outputRows.map((g) => ({
        treatment: g.treatment,
        levy_rate: g.rate ? formatRate(g.rate) : null,
        trades: g.trades,
        amount: formatMoney(g.fen),
        amount_ex_tax: g.rate ? formatMoney(g.ex) : null,
        tax: g.rate ? formatMoney(g.tax) : null,
      })),
      output_total: {
        trades: outputTotal.trades,
        amount: formatMoney(outputTotal.fen),
        amount_ex_tax: formatMoney(outputTotal.ex),
        tax: formatMoney(outputTotal.tax),
      },
      output_unrated: { trades: outputUnrated.trades, amount: formatMoney(outputUnrated.fen) },
      input_on_received_invoices: {
        by_kind: kinds.map((kind) => ({
          kind,
          ...wireTotals(totals(input.blueInvoicesReceived.filter((i) => i.kind === kind))),
        })),
        blue: wireTotals(blue),
        red: wireTotals(red),
        net: wireTotals({
          invoices: blue.invoices + red.invoices,
          ex: blue.ex + red.ex,
          tax: blue.tax + red.tax,
          fen: blue.fen + red.fen,
        }),
      },
      reverse_invoice_withholding: {
        basis,
        persons: personRows,
        total: {
          trades: withholdingTotal.trades,
          amount: formatMoney(withholdingTotal.fen),
          amount_ex_tax: formatMoney(withholdingTotal.ex),
          vat: formatMoney(withholdingTotal.vat),
          iit: formatMoney(withholdingTotal.iit),
        },
        unrated: { trades: withholdingUnrated.trades, amount: formatMoney(withholdingUnrated.fen) },
      },
    },
    anomalies: [...rules]
      .sort(([a], [b]) => byString(a, b))
      .map(([rule, r]) => ({
        rule,
        open: r.open,
        confirmed: r.confirmed,
        total: r.open + r.confirmed,
        highest_severity: SEVERITY_ORDER[r.severity] ?? 'low',
      })),
  };
}

/** A self-trade (the party both seller and buyer) is one trade for the coverage ratios. */
function uniqueTrades(trades: readonly SheetTrade[]): SheetTrade[] {
  const seen = new Set<string>();
  const out: SheetTrade[] = [];
  for (const t of trades) {
    const k = refKey({ platform: t.platform, tradeId: t.tradeId });
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(t);
  }
  return out;
}

/**
 * One material's stock movement in the period. The allocation's unsourced parts are used unless
 * the stream waits for re-allocation or they no longer fit its entries (monthlyStock rejects a
 * negative stock); then the stream's current entries are allocated here, with the same function
 * processing uses, so the row is always a mass balance of the entries as they are now.
 */
function stockRow(s: StockStreamInput | StockSumsInput, period: string): StockRow {
  if ('sums' in s) {
    const month = stockFromSums(s.sums);
    if (!month) throw new RangeError(`stock sums of ${s.material} do not fit: load the whole stream`);
    return toStockRow(s.material, month, false);
  }
  let pending = s.dirty;
  let month: ReturnType<typeof monthlyStock>[number] | undefined;
  if (!pending) {
    try {
      month = monthlyStock(s.purchases, s.sales, s.unsourced, period, period)[0];
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      pending = true;
    }
  }
  if (pending || !month) {
    const result = allocateStream(s.purchases, s.sales);
    const unsourced = new Map(result.unsourced.map((u) => [refKey(u.sale), u.quantityG]));
    month = monthlyStock(s.purchases, s.sales, unsourced, period, period)[0]!;
  }
  return toStockRow(s.material, month, pending);
}

function toStockRow(
  material: string,
  month: { openingG: bigint; inG: bigint; outG: bigint; unsourcedOutG: bigint; closingG: bigint },
  pending: boolean,
): StockRow {
  return {
    material,
    opening_kg: formatKg(month.openingG),
    in_kg: formatKg(month.inG),
    out_kg: formatKg(month.outG),
    unsourced_out_kg: formatKg(month.unsourcedOutG),
    closing_kg: formatKg(month.closingG),
    allocation_pending: pending,
  };
}
