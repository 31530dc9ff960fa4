/**
 * The monthly VAT reference sheet of one party (CONTRACT.md section 3, `GET /v1/parties/{key}/summary`).
 *
 * Pure and deterministic. The sheet is computed from sums over the party's month (SheetFacts),
 * which the repository computes in SQL (src/repositories/parties-query.repository.ts) and
 * `sheetFacts` here defines over trade rows; this module decides every rate and does every
 * rounding, ratio and per-person figure. All money is bigint fen, all quantities bigint
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
 *   exempt when the person's Σ ex over all their buyers ≤ the monthly exemption, else VAT = ex × levy rate (half-up); IIT = ex × 0.5%.
 *   The sheet shows the totals; the per-person rows are listed apart (withholdingPersons).
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
import { SHANGHAI_OFFSET_MS, shanghaiDate } from './time';

// ---------------------------------------------------------------------------------------------
// Periods
// ---------------------------------------------------------------------------------------------

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
  /**
   * An enterprise's sheet: the period's active trades of the natural persons it bought from, with
   * every buyer — the monthly exemption is tested on each person's sales to all of them.
   */
  personSales?: readonly SheetTrade[];
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
  sold_kg: string;
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
  /** Within the monthly exemption (a natural person's own reverse-invoiced sales): no VAT in it. */
  exempt: boolean;
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
      /** Natural persons with rated reverse-invoiced trades in the month. */
      persons: number;
      /** Of those, the ones within the monthly exemption. */
      exempt_persons: number;
      /** Their rows, a page at a time: `GET /v1/parties/{key}/summary/withholding?period=`. */
      persons_href: string;
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

/** "0.0300" → "0.03", "0.0000" → "0", "0" → "0": what parseRate accepts. */
function stripZeros(s: string): string {
  if (!s.includes('.')) return s;
  const t = s.replace(/0+$/, '');
  return t.endsWith('.') ? t.slice(0, -1) : t;
}

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const SEVERITY_ORDER = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITY_ORDER)[number];

// ---------------------------------------------------------------------------------------------
// Daily rates: the treatments table resolved for each day of the period
// ---------------------------------------------------------------------------------------------

/** The rate of one treatment code on one Asia/Shanghai day (treatmentOn). */
export interface DailyRate {
  code: string;
  /** 'YYYY-MM-DD', Asia/Shanghai. */
  day: string;
  basisPoints: bigint;
  monthlyExemptionFen: Fen | null;
}

/**
 * Every treatment code's rate on every Asia/Shanghai day of the period, where one is valid
 * (`treatmentOn`). The only place a trade's rate is decided: the repository hands this list to
 * PostgreSQL, which joins each trade to its day's rate, and `sheetFacts` looks rates up in it.
 */
export function dailyRates(treatments: readonly TreatmentRow[], period: string): DailyRate[] {
  const { startMs, endMs } = periodBounds(period);
  const codes = [...new Set(treatments.map((t) => t.code))].sort(byString);
  const out: DailyRate[] = [];
  // The period starts at an Asia/Shanghai midnight and the offset is fixed: each step is a day.
  for (let at = startMs; at < endMs; at += 86_400_000) {
    const day = shanghaiDate(at);
    for (const code of codes) {
      const tr = treatmentOn(treatments, code, day);
      if (tr)
        out.push({
          code,
          day,
          basisPoints: tr.rate.basisPoints,
          monthlyExemptionFen: tr.monthlyExemptionFen,
        });
    }
  }
  return out;
}

const DAY_MS = 86_400_000;
/** The Asia/Shanghai day number (days since 1970-01-01) of an instant. */
const shanghaiDayNumber = (atMs: number) => Math.floor((atMs + SHANGHAI_OFFSET_MS) / DAY_MS);

function rateLookup(rates: readonly DailyRate[]): (code: string, atMs: number) => DailyRate | undefined {
  // Keyed by code, then by day number: a sheet looks up a rate for each of 10,000 trades or persons.
  const byCode = new Map<string, Map<number, DailyRate>>();
  for (const r of rates) {
    let days = byCode.get(r.code);
    if (!days) {
      days = new Map();
      byCode.set(r.code, days);
    }
    days.set(Date.parse(`${r.day}T00:00:00Z`) / DAY_MS, r);
  }
  return (code, atMs) => byCode.get(code)?.get(shanghaiDayNumber(atMs));
}

/**
 * Amount excluding VAT of a tax-inclusive total at a rate in basis points: total ÷ (1 + rate),
 * half-up to the fen (exTaxFromInclusive). The repository's SQL computes the same integer formula.
 */
const exAt = (totalFen: Fen, basisPoints: bigint): Fen => exTaxFromInclusive(totalFen, { basisPoints });

// ---------------------------------------------------------------------------------------------
// Facts: the sums the sheet is made of
// ---------------------------------------------------------------------------------------------

export interface AmountSums {
  fen: Fen;
  g: Grams;
}

export interface MaterialFacts {
  material: string;
  /** Trades with at least one line of the material (a trade counts once per material it has). */
  trades: number;
  all: AmountSums;
  /** Lines of trades whose seller is a natural person (purchases only; zero for sales). */
  fromNaturalPersons: AmountSums;
  /** Lines of trades under the `reverse_invoice` treatment. */
  reverseInvoiced: AmountSums;
}

export interface CountSums {
  n: number;
  fen: Fen;
}

/** The party's sales of one treatment at one rate (null: no rate valid on their dates). */
export interface OutputGroup {
  treatment: string;
  basisPoints: bigint | null;
  trades: number;
  fen: Fen;
  /** Σ per sale of total ÷ (1 + rate), half-up; 0 when unrated. */
  ex: Fen;
}

/** One natural person's reverse-invoiced trades of the month at one rate of `reverse_invoice`. */
export interface WithholdingGroup {
  personKey: string;
  /** null: dated before reverse invoicing had a rate. */
  basisPoints: bigint | null;
  /** The income-tax prepayment rate (iit_reverse_invoice) on the trades' day; null: none then. */
  iitBasisPoints: bigint | null;
  trades: number;
  fen: Fen;
  ex: Fen;
  /**
   * The person's rated reverse-invoiced sales of the month to other buyers, excl. VAT (0 on the
   * person's own sheet, which has them all): the monthly exemption is the person's, so it is
   * tested against ex + othersEx. The same on each of a person's groups.
   */
  othersEx: Fen;
  /** The latest occurred_at of the group, epoch ms. */
  lastAtMs: number;
}

/**
 * Sums over the party's active trades of the month: everything the sheet needs from its trades.
 * The repository computes them in SQL (a month of a busy station is 10,000 trades and more);
 * `sheetFacts` computes them from trade rows and is their definition — a test checks the two agree.
 */
export interface SheetFacts {
  purchases: { trades: number; byMaterial: MaterialFacts[] };
  sales: { trades: number; byMaterial: MaterialFacts[] };
  /** Over distinct trades (a self-trade once). */
  coverage: {
    trades: CountSums;
    paymentMatched: CountSums;
    weighingMatched: CountSums;
    /** Trades that expect an invoice: an enterprise seller, or a reverse-invoiced sale. */
    invoiceExpected: CountSums;
    /** Of those, the ones whose invoice flow is matched. */
    invoiceMatched: CountSums;
  };
  /** The party's sales by treatment and rate, ordered by treatment then rate (unrated first). */
  output: OutputGroup[];
  /**
   * The reverse-invoiced trades withholding applies to, by person and rate: the party's
   * purchases from natural persons (an enterprise), or its own sales (a natural person).
   */
  withholding: WithholdingGroup[];
}

export interface InvoiceSums {
  invoices: number;
  exFen: Fen;
  taxFen: Fen;
  fen: Fen;
}

/** Sums of the invoices the party received in the month. */
export interface ReceivedInvoiceFacts {
  /** Blue invoices (special, ordinary, reverse) to the party issued in the period, by kind. */
  blueByKind: (InvoiceSums & { kind: string })[];
  /** Red invoices issued in the period that reverse a blue invoice to the party (negative sums). */
  red: InvoiceSums;
}

const sums0 = (): AmountSums => ({ fen: 0n, g: 0n });
const addSums = (a: AmountSums, b: AmountSums) => {
  a.fen += b.fen;
  a.g += b.g;
};
const countSums = (): CountSums => ({ n: 0, fen: 0n });
const count = (c: CountSums, fen: Fen) => {
  c.n += 1;
  c.fen += fen;
};

/** Per material of a trade: the lines of one material summed. */
function perMaterial(t: SheetTrade): Map<string, AmountSums> {
  const m = new Map<string, AmountSums>();
  for (const l of t.lines) {
    let a = m.get(l.material);
    if (!a) {
      a = sums0();
      m.set(l.material, a);
    }
    addSums(a, { fen: l.amountFen, g: l.quantityG });
  }
  return m;
}

function byMaterial(trades: readonly SheetTrade[], naturalPersonSellers: boolean): MaterialFacts[] {
  const rows = new Map<string, MaterialFacts>();
  for (const t of trades) {
    const np = naturalPersonSellers && t.sellerKind === 'natural_person';
    const rev = t.taxTreatment === 'reverse_invoice';
    for (const [material, a] of perMaterial(t)) {
      let row = rows.get(material);
      if (!row) {
        row = { material, trades: 0, all: sums0(), fromNaturalPersons: sums0(), reverseInvoiced: sums0() };
        rows.set(material, row);
      }
      row.trades += 1;
      addSums(row.all, a);
      if (np) addSums(row.fromNaturalPersons, a);
      if (rev) addSums(row.reverseInvoiced, a);
    }
  }
  return [...rows.values()].sort((a, b) => byString(a.material, b.material));
}

/** Orders output groups by treatment, then rate, an unrated group first. */
const byTreatmentAndRate = (
  a: { treatment: string; basisPoints: bigint | null },
  b: { treatment: string; basisPoints: bigint | null },
) => byString(a.treatment, b.treatment) || Number((a.basisPoints ?? -1n) - (b.basisPoints ?? -1n));

/** The sheet's facts from the party's active trades of the month: the definition of SheetFacts. */
export function sheetFacts(
  party: { key: string; kind: 'enterprise' | 'natural_person' },
  trades: readonly SheetTrade[],
  rates: readonly DailyRate[],
  /** The month's active trades of the persons the party bought from, with every buyer (for othersEx). */
  personSales: readonly SheetTrade[] = [],
): SheetFacts {
  const rateOn = rateLookup(rates);
  const purchases = trades.filter((t) => t.buyerKey === party.key);
  const sales = trades.filter((t) => t.sellerKey === party.key);

  const coverage = {
    trades: countSums(),
    paymentMatched: countSums(),
    weighingMatched: countSums(),
    invoiceExpected: countSums(),
    invoiceMatched: countSums(),
  };
  for (const t of uniqueTrades(trades)) {
    count(coverage.trades, t.totalFen);
    if (t.flows?.payment === 'matched') count(coverage.paymentMatched, t.totalFen);
    if (t.flows?.weighing === 'matched') count(coverage.weighingMatched, t.totalFen);
    // Same rule as computeFlows (src/domain/flows.ts): an invoice is expected from an enterprise
    // seller, and for a natural person's reverse-invoiced sale.
    if (t.sellerKind === 'enterprise' || t.taxTreatment === 'reverse_invoice') {
      count(coverage.invoiceExpected, t.totalFen);
      if (t.flows?.invoice === 'matched') count(coverage.invoiceMatched, t.totalFen);
    }
  }

  const output = new Map<string, OutputGroup>();
  for (const t of sales) {
    const bp = rateOn(t.taxTreatment, t.atMs)?.basisPoints ?? null;
    const key = `${t.taxTreatment}|${bp ?? '-'}`;
    let g = output.get(key);
    if (!g) {
      g = { treatment: t.taxTreatment, basisPoints: bp, trades: 0, fen: 0n, ex: 0n };
      output.set(key, g);
    }
    g.trades += 1;
    g.fen += t.totalFen;
    if (bp !== null) g.ex += exAt(t.totalFen, bp);
  }

  const withheld =
    party.kind === 'natural_person'
      ? sales.filter((t) => t.taxTreatment === 'reverse_invoice')
      : purchases.filter((t) => t.sellerKind === 'natural_person' && t.taxTreatment === 'reverse_invoice');
  const withholding = new Map<string, WithholdingGroup>();
  for (const t of withheld) {
    const bp = rateOn('reverse_invoice', t.atMs)?.basisPoints ?? null;
    const iitBp = rateOn(IIT_PREPAY_CODE, t.atMs)?.basisPoints ?? null;
    const key = `${t.sellerKey}|${bp ?? '-'}|${iitBp ?? '-'}`;
    let g = withholding.get(key);
    if (!g) {
      g = {
        personKey: t.sellerKey,
        basisPoints: bp,
        iitBasisPoints: iitBp,
        trades: 0,
        fen: 0n,
        ex: 0n,
        othersEx: 0n,
        lastAtMs: t.atMs,
      };
      withholding.set(key, g);
    }
    g.trades += 1;
    g.fen += t.totalFen;
    if (bp !== null) g.ex += exAt(t.totalFen, bp);
    if (t.atMs > g.lastAtMs) g.lastAtMs = t.atMs;
  }
  if (party.kind === 'enterprise') {
    const others = new Map<string, Fen>();
    for (const t of uniqueTrades(personSales)) {
      if (
        t.buyerKey === party.key ||
        t.sellerKind !== 'natural_person' ||
        t.taxTreatment !== 'reverse_invoice'
      )
        continue;
      const bp = rateOn('reverse_invoice', t.atMs)?.basisPoints ?? null;
      if (bp !== null) others.set(t.sellerKey, (others.get(t.sellerKey) ?? 0n) + exAt(t.totalFen, bp));
    }
    for (const g of withholding.values()) g.othersEx = others.get(g.personKey) ?? 0n;
  }

  return {
    purchases: { trades: purchases.length, byMaterial: byMaterial(purchases, true) },
    sales: { trades: sales.length, byMaterial: byMaterial(sales, false) },
    coverage,
    output: [...output.values()].sort(byTreatmentAndRate),
    withholding: [...withholding.values()].sort(
      (a, b) =>
        byString(a.personKey, b.personKey) ||
        Number((a.basisPoints ?? -1n) - (b.basisPoints ?? -1n)) ||
        Number((a.iitBasisPoints ?? -1n) - (b.iitBasisPoints ?? -1n)),
    ),
  };
}

/** The received-invoice sums from invoice rows: the definition of ReceivedInvoiceFacts. */
export function receivedInvoiceFacts(
  blue: readonly SheetInvoice[],
  red: readonly SheetInvoice[],
): ReceivedInvoiceFacts {
  const totals = (list: readonly SheetInvoice[]): InvoiceSums => {
    const a = { invoices: 0, exFen: 0n, taxFen: 0n, fen: 0n };
    for (const i of list) {
      a.invoices += 1;
      a.exFen += i.totalExTaxFen;
      a.taxFen += i.totalTaxFen;
      a.fen += i.totalFen;
    }
    return a;
  };
  const kinds = [...new Set(blue.map((i) => i.kind))].sort(byString);
  return {
    blueByKind: kinds.map((kind) => ({ kind, ...totals(blue.filter((i) => i.kind === kind)) })),
    red: totals(red),
  };
}

// ---------------------------------------------------------------------------------------------
// Reverse-invoice withholding per natural person
// ---------------------------------------------------------------------------------------------

/** One natural person's withholding for the month (the wire form is WithholdingRow). */
export interface WithholdingPerson {
  partyKey: string;
  trades: number;
  fen: Fen;
  ex: Fen;
  /** The monthly exemption of `reverse_invoice` in force on the person's last rated trade. */
  exemptionFen: Fen | null;
  exempt: boolean;
  /** The levy rate, when all the person's trades of the month had the same one. */
  vatRate: Rate | null;
  vat: Fen;
  iit: Fen;
}

/**
 * Withholding per natural person from the withholding groups (each person's rated trades; the
 * unrated ones are counted apart): exempt when Σ ex, with the person's sales to other buyers
 * (othersEx), ≤ the monthly exemption in force on the person's last trade of the month; else
 * VAT = Σ per levy rate of ex × rate, half-up; IIT = Σ per prepayment rate of ex × rate, half-up
 * — each trade at the rates in force on its day (no IIT on a day without one). Ordered by party key.
 */
export function withholdingPersons(
  groups: readonly WithholdingGroup[],
  treatments: readonly TreatmentRow[],
  period: string,
): { persons: WithholdingPerson[]; unrated: CountSums } {
  const rateOn = rateLookup(dailyRates(treatments, period));
  const unrated = countSums();
  // Groups of one person are adjacent once sorted by key (then rate); most persons have one.
  const rated = groups.filter((g) => {
    if (g.basisPoints !== null) return true;
    unrated.n += g.trades;
    unrated.fen += g.fen;
    return false;
  });
  rated.sort((a, b) => byString(a.personKey, b.personKey));
  const persons: WithholdingPerson[] = [];
  for (let i = 0; i < rated.length; ) {
    const partyKey = rated[i]!.personKey;
    let trades = 0;
    let fen = 0n;
    let ex = 0n;
    let lastAtMs = Number.NEGATIVE_INFINITY;
    const othersEx = rated[i]!.othersEx;
    // Σ ex per levy rate (one rate unless an administrator changed it within the month).
    const exByRate = new Map<bigint, Fen>();
    // Σ ex per income-tax prepayment rate: one rate (no map: a sheet has 10,000 persons), unless
    // an administrator changed it within the month.
    let iitBp: bigint | null = null;
    let iitEx = 0n;
    let otherIit: Map<bigint, Fen> | null = null;
    for (; i < rated.length && rated[i]!.personKey === partyKey; i++) {
      const g = rated[i]!;
      trades += g.trades;
      fen += g.fen;
      ex += g.ex;
      if (g.lastAtMs > lastAtMs) lastAtMs = g.lastAtMs;
      exByRate.set(g.basisPoints!, (exByRate.get(g.basisPoints!) ?? 0n) + g.ex);
      const bp = g.iitBasisPoints;
      if (bp === null) continue;
      if (iitBp === null || iitBp === bp) {
        iitBp = bp;
        iitEx += g.ex;
      } else {
        otherIit ??= new Map();
        otherIit.set(bp, (otherIit.get(bp) ?? 0n) + g.ex);
      }
    }
    let iit = iitBp === null ? 0n : taxOf(iitEx, { basisPoints: iitBp });
    if (otherIit) for (const [bp, e] of otherIit) iit += taxOf(e, { basisPoints: bp });
    const exemptionFen = rateOn('reverse_invoice', lastAtMs)?.monthlyExemptionFen ?? null;
    // The exemption is the person's: their sales to every buyer of the month count.
    const exempt = exemptionFen !== null && ex + othersEx <= exemptionFen;
    let vat = 0n;
    if (!exempt) for (const [bp, e] of exByRate) vat += taxOf(e, { basisPoints: bp });
    persons.push({
      partyKey,
      trades,
      fen,
      ex,
      exemptionFen,
      exempt,
      vatRate: exByRate.size === 1 ? { basisPoints: exByRate.keys().next().value! } : null,
      vat,
      iit,
    });
  }
  return { persons, unrated };
}

/** The wire form of a person's withholding; `name` is the person's registered name ('' if none). */
export function withholdingRow(p: WithholdingPerson, name: string): WithholdingRow {
  return {
    party_key: p.partyKey,
    name,
    trades: p.trades,
    amount: formatMoney(p.fen),
    amount_ex_tax: formatMoney(p.ex),
    monthly_exemption: p.exemptionFen === null ? null : formatMoney(p.exemptionFen),
    exempt: p.exempt,
    vat_rate: p.vatRate ? formatRate(p.vatRate) : null,
    vat: formatMoney(p.vat),
    iit: formatMoney(p.iit),
  };
}

/** Whose withholding a party's sheet shows: its purchases from persons, or its own sales. */
export const withholdingBasis = (kind: 'enterprise' | 'natural_person') =>
  kind === 'natural_person' ? ('own_sales' as const) : ('purchases_from_natural_persons' as const);

/** Where the per-person rows of a sheet's withholding are listed (`GET …/summary/withholding`). */
export const withholdingHref = (partyKey: string, period: string) =>
  `/v1/parties/${encodeURIComponent(partyKey)}/summary/withholding?period=${period}`;

// ---------------------------------------------------------------------------------------------
// The sheet
// ---------------------------------------------------------------------------------------------

/** What the sheet is computed from, with the trades and invoices already summed (SheetFacts). */
export interface ReferenceSheetFactsInput {
  party: ReferenceSheetInput['party'];
  period: string;
  facts: SheetFacts;
  treatments: readonly TreatmentRow[];
  stock: ReferenceSheetInput['stock'];
  invoices: ReceivedInvoiceFacts;
  anomalies: readonly AnomalyCountRow[];
}

/** The sheet from trade and invoice rows (the definition; the API computes from SQL sums). */
export function computeReferenceSheet(input: ReferenceSheetInput): ReferenceSheet {
  return sheetFromFacts(factsInput(input));
}

/** The per-person withholding rows of a sheet, from trade rows (names from the trades' sellers). */
export function computeWithholdingRows(input: ReferenceSheetInput): WithholdingRow[] {
  const f = factsInput(input);
  const names = new Map(input.trades.map((t) => [t.sellerKey, t.sellerName]));
  return withholdingPersons(f.facts.withholding, input.treatments, input.period).persons.map((p) =>
    withholdingRow(p, names.get(p.partyKey) ?? ''),
  );
}

function factsInput(input: ReferenceSheetInput): ReferenceSheetFactsInput {
  return {
    party: input.party,
    period: input.period,
    facts: sheetFacts(
      input.party,
      input.trades,
      dailyRates(input.treatments, input.period),
      input.personSales,
    ),
    treatments: input.treatments,
    stock: input.stock,
    invoices: receivedInvoiceFacts(input.blueInvoicesReceived, input.redInvoicesReceived),
    anomalies: input.anomalies,
  };
}

const wireAQ = (a: AmountSums): AmountQty => ({ amount: formatMoney(a.fen), quantity_kg: formatKg(a.g) });
const byMaterialName = (rows: readonly MaterialFacts[]) =>
  [...rows].sort((a, b) => byString(a.material, b.material));

export function sheetFromFacts(input: ReferenceSheetFactsInput): ReferenceSheet {
  const { party, facts } = input;
  periodBounds(input.period); // validates the period

  // --- purchases and sales by material -------------------------------------------------------
  const purchaseTotal = { all: sums0(), np: sums0(), rev: sums0() };
  for (const r of facts.purchases.byMaterial) {
    addSums(purchaseTotal.all, r.all);
    addSums(purchaseTotal.np, r.fromNaturalPersons);
    addSums(purchaseTotal.rev, r.reverseInvoiced);
  }
  const saleTotal = { all: sums0(), rev: sums0() };
  for (const r of facts.sales.byMaterial) {
    addSums(saleTotal.all, r.all);
    addSums(saleTotal.rev, r.reverseInvoiced);
  }

  // --- stock ---------------------------------------------------------------------------------
  // A natural person holds no stock: what they sell is their own (household) scrap, an origin
  // (CONTRACT.md 3), never an unsourced sale — so a person's sheet has no stock rows.
  const stock: StockRow[] = [];
  const stockInputs = party.kind === 'natural_person' ? [] : input.stock;
  for (const s of [...stockInputs].sort((a, b) => byString(a.material, b.material))) {
    const row = stockRow(s, input.period);
    if (
      row.opening_kg === '0.000' &&
      row.in_kg === '0.000' &&
      row.sold_kg === '0.000' &&
      row.closing_kg === '0.000'
    )
      continue;
    stock.push(row);
  }

  // --- flow coverage -------------------------------------------------------------------------
  const cov = facts.coverage;
  const coverage = (m: CountSums, d: CountSums): CoverageFlow => ({
    matched_trades: m.n,
    trade_ratio: formatRatio(BigInt(m.n), BigInt(d.n)),
    amount_ratio: formatRatio(m.fen, d.fen),
  });

  // --- reverse-invoice withholding -----------------------------------------------------------
  const { persons, unrated } = withholdingPersons(facts.withholding, input.treatments, input.period);
  const withholdingTotal = { trades: 0, fen: 0n, ex: 0n, vat: 0n, iit: 0n };
  for (const p of persons) {
    withholdingTotal.trades += p.trades;
    withholdingTotal.fen += p.fen;
    withholdingTotal.ex += p.ex;
    withholdingTotal.vat += p.vat;
    withholdingTotal.iit += p.iit;
  }

  // --- output tax by treatment ---------------------------------------------------------------
  // A natural person's own reverse-invoiced sales within the monthly exemption (tested on their
  // sales to every buyer, as for the withholding above) are exempt: tax 0. Their amount excluding
  // VAT is still total ÷ (1 + levy rate) (DOMAIN.md 5), the figure the exemption is tested on and
  // the withholding rows show. An enterprise's sheet never has them (its sales are not
  // reverse-invoiced).
  const exemptPerson =
    party.kind === 'natural_person' && persons.length > 0 && persons.every((p) => p.exempt);
  const isExempt = (g: OutputGroup) =>
    exemptPerson && g.treatment === 'reverse_invoice' && g.basisPoints !== null;
  const outputRows = [...facts.output].sort(byTreatmentAndRate);
  const outputTotal = { trades: 0, fen: 0n, ex: 0n, tax: 0n };
  const outputUnrated = { trades: 0, fen: 0n };
  for (const g of outputRows) {
    const into = g.basisPoints === null ? outputUnrated : outputTotal;
    into.trades += g.trades;
    into.fen += g.fen;
    if (g.basisPoints !== null) {
      outputTotal.ex += g.ex;
      if (!isExempt(g)) outputTotal.tax += g.fen - g.ex;
    }
  }

  // --- input tax on received invoices --------------------------------------------------------
  const wireTotals = (a: InvoiceSums): InvoiceTotals => ({
    invoices: a.invoices,
    amount_ex_tax: formatMoney(a.exFen),
    tax: formatMoney(a.taxFen),
    amount: formatMoney(a.fen),
  });
  const blue: InvoiceSums = { invoices: 0, exFen: 0n, taxFen: 0n, fen: 0n };
  for (const k of input.invoices.blueByKind) {
    blue.invoices += k.invoices;
    blue.exFen += k.exFen;
    blue.taxFen += k.taxFen;
    blue.fen += k.fen;
  }
  const red = input.invoices.red;

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
        trades: facts.purchases.trades,
        ...wireAQ(purchaseTotal.all),
        from_natural_persons: wireAQ(purchaseTotal.np),
        reverse_invoiced: wireAQ(purchaseTotal.rev),
      },
      by_material: byMaterialName(facts.purchases.byMaterial).map((r) => ({
        material: r.material,
        trades: r.trades,
        ...wireAQ(r.all),
        from_natural_persons: wireAQ(r.fromNaturalPersons),
        reverse_invoiced: wireAQ(r.reverseInvoiced),
      })),
    },
    sales: {
      total: {
        trades: facts.sales.trades,
        ...wireAQ(saleTotal.all),
        reverse_invoiced: wireAQ(saleTotal.rev),
      },
      by_material: byMaterialName(facts.sales.byMaterial).map((r) => ({
        material: r.material,
        trades: r.trades,
        ...wireAQ(r.all),
        reverse_invoiced: wireAQ(r.reverseInvoiced),
      })),
    },
    stock,
    flow_coverage: {
      trades: cov.trades.n,
      amount: formatMoney(cov.trades.fen),
      payment: coverage(cov.paymentMatched, cov.trades),
      weighing: coverage(cov.weighingMatched, cov.trades),
      invoice: {
        expected_trades: cov.invoiceExpected.n,
        expected_amount: formatMoney(cov.invoiceExpected.fen),
        ...coverage(cov.invoiceMatched, cov.invoiceExpected),
      },
    },
    tax: {
      output_by_treatment: outputRows.map((g) => {
        const rated = g.basisPoints !== null;
        const exempt = isExempt(g);
        return {
          treatment: g.treatment,
          levy_rate: rated ? formatRate({ basisPoints: g.basisPoints! }) : null,
          trades: g.trades,
          amount: formatMoney(g.fen),
          amount_ex_tax: rated ? formatMoney(g.ex) : null,
          tax: rated ? formatMoney(exempt ? 0n : g.fen - g.ex) : null,
          exempt,
        };
      }),
      output_total: {
        trades: outputTotal.trades,
        amount: formatMoney(outputTotal.fen),
        amount_ex_tax: formatMoney(outputTotal.ex),
        tax: formatMoney(outputTotal.tax),
      },
      output_unrated: { trades: outputUnrated.trades, amount: formatMoney(outputUnrated.fen) },
      input_on_received_invoices: {
        by_kind: input.invoices.blueByKind.map(({ kind, ...sums }) => ({ kind, ...wireTotals(sums) })),
        blue: wireTotals(blue),
        red: wireTotals(red),
        net: wireTotals({
          invoices: blue.invoices + red.invoices,
          exFen: blue.exFen + red.exFen,
          taxFen: blue.taxFen + red.taxFen,
          fen: blue.fen + red.fen,
        }),
      },
      reverse_invoice_withholding: {
        basis: withholdingBasis(party.kind),
        persons: persons.length,
        exempt_persons: persons.filter((p) => p.exempt).length,
        persons_href: withholdingHref(party.key, input.period),
        total: {
          trades: withholdingTotal.trades,
          amount: formatMoney(withholdingTotal.fen),
          amount_ex_tax: formatMoney(withholdingTotal.ex),
          vat: formatMoney(withholdingTotal.vat),
          iit: formatMoney(withholdingTotal.iit),
        },
        unrated: { trades: unrated.n, amount: formatMoney(unrated.fen) },
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
    // What left stock: the sales' sourced part, so that opening + in − out = closing holds.
    out_kg: formatKg(month.outG - month.unsourcedOutG),
    unsourced_out_kg: formatKg(month.unsourcedOutG),
    sold_kg: formatKg(month.outG),
    closing_kg: formatKg(month.closingG),
    allocation_pending: pending,
  };
}
