import { exTaxFromInclusive, formatMoney } from '../money';
import type { InvoiceFact, PaymentFact, TradeFact, WeighingFact } from './facts';
import { DAY_MS, type Finding, type PeriodWindow, periodOfMs, ratio } from './types';

export interface PriceDeviationParams {
  medium_basis_points: number;
  high_basis_points: number;
  min_trades_for_median: number;
}

export interface ShellBurstParams {
  max_age_days: number;
  min_sales_fen: number;
}

/** The enterprise side of a trade: who sets and books the price. */
const pricingParty = (t: TradeFact) => (t.seller.kind === 'natural_person' ? t.buyer.key : t.seller.key);

/** Price in fen per tonne, rounded half-up (for the median and for display only). */
const fenPerTonne = (amountFen: bigint, grams: bigint) => (amountFen * 2_000_000n + grams) / (2n * grams);

/**
 * PRICE_DEVIATION: a line's unit price outside ±30% (medium) or ±50% (high) of the month's
 * reference price; without one, of the month's median price for the material when it has at
 * least `min_trades_for_median` trades. The comparison is exact (cross-multiplied integers).
 */
export function priceDeviation(
  w: PeriodWindow,
  trades: readonly TradeFact[],
  referenceFenPerT: ReadonlyMap<string, bigint>,
  p: PriceDeviationParams,
): Finding[] {
  const inMonth = trades.filter((t) => periodOfMs(t.occurredMs) === w.period);
  const medians = new Map<string, bigint>();
  const byMaterial = new Map<string, bigint[]>();
  const tradesOf = new Map<string, Set<string>>();
  for (const t of inMonth) {
    for (const l of t.lines) {
      if (l.quantityG <= 0n) continue;
      const list = byMaterial.get(l.material) ?? [];
      if (list.length === 0) byMaterial.set(l.material, list);
      list.push(fenPerTonne(l.amountFen, l.quantityG));
      const ts = tradesOf.get(l.material) ?? new Set<string>();
      if (ts.size === 0) tradesOf.set(l.material, ts);
      ts.add(`${t.platform}:${t.tradeId}`);
    }
  }
  for (const [m, prices] of byMaterial) {
    // The threshold counts trades (DOMAIN.md: "≥ 20 trades"); the median is over their lines' prices.
    if (referenceFenPerT.has(m) || (tradesOf.get(m)?.size ?? 0) < p.min_trades_for_median) continue;
    const s = [...prices].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const mid = Math.floor(s.length / 2);
    medians.set(m, s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2n);
  }
  const out: Finding[] = [];
  for (const t of inMonth) {
    for (const l of t.lines) {
      const reference = referenceFenPerT.get(l.material) ?? medians.get(l.material);
      if (reference === undefined || reference <= 0n || l.quantityG <= 0n) continue;
      // deviation = (amount/qty·1e6 − ref) / ref  →  compare |amount·1e6 − ref·qty| with ref·qty·bp/10⁴
      const diff = l.amountFen * 1_000_000n - reference * l.quantityG;
      const absDiff = diff < 0n ? -diff : diff;
      const base = reference * l.quantityG;
      const high = absDiff * 10_000n > base * BigInt(p.high_basis_points);
      const medium = absDiff * 10_000n > base * BigInt(p.medium_basis_points);
      if (!medium) continue;
      const price = fenPerTonne(l.amountFen, l.quantityG);
      const source = referenceFenPerT.has(l.material) ? 'reference' : 'median';
      const deviation = ratio(diff, base);
      out.push({
        rule: 'PRICE_DEVIATION',
        dedupeKey: `${t.platform}:${t.tradeId}:${l.material}`,
        severity: high ? 'high' : 'medium',
        partyKey: pricingParty(t),
        period: w.period,
        trades: [{ platform: t.platform, trade_id: t.tradeId }],
        documents: [],
        summaryZh: `交易 ${t.tradeId} 的 ${l.material} 单价 ¥${formatMoney(price)}/吨，偏离本月${source === 'reference' ? '参考价' : '中位价'} ¥${formatMoney(reference)}/吨 ${ratio(diff * 100n, base)}%`,
        summaryEn: `Trade ${t.tradeId}: ${l.material} at ¥${formatMoney(price)}/t deviates ${ratio(diff * 100n, base)}% from the month's ${source} price ¥${formatMoney(reference)}/t`,
        evidence: {
          material: l.material,
          unit_price_per_t: formatMoney(price),
          [`${source}_price_per_t`]: formatMoney(reference),
          deviation,
          medium_above: ratio(BigInt(p.medium_basis_points), 10_000n),
          high_above: ratio(BigInt(p.high_basis_points), 10_000n),
        },
      });
    }
  }
  return out;
}

/**
 * DUPLICATE_DOCUMENT: one weighbridge ticket number at a site, one payment serial, or one invoice
 * number attached to different active trades, within a platform or across platforms. Reported in
 * the month the document was last used, once per document.
 */
export function duplicateDocument(
  w: PeriodWindow,
  weighings: readonly WeighingFact[],
  payments: readonly PaymentFact[],
  invoices: readonly InvoiceFact[],
  tradeBuyer: ReadonlyMap<string, string>,
): Finding[] {
  interface Use {
    atMs: number;
    record: string;
    trades: { platform: string; trade_id: string }[];
  }
  const groups: { kind: 'weighing' | 'payment' | 'invoice'; number: string; uses: Use[] }[] = [];
  // Nearly every document number is used once: a number seen once keeps only its document, and
  // the uses are built for numbers seen twice or more (this rule allocated the most of all).
  const collect = <T>(
    items: readonly T[],
    kind: 'weighing' | 'payment' | 'invoice',
    keyOf: (x: T) => string | null,
    numberOf: (x: T) => string,
    use: (x: T) => Use,
  ) => {
    const m = new Map<string, T | T[]>();
    for (const x of items) {
      const k = keyOf(x);
      if (k === null) continue;
      const seen = m.get(k);
      if (seen === undefined) m.set(k, x);
      else if (Array.isArray(seen)) seen.push(x);
      else m.set(k, [seen, x]);
    }
    for (const seen of m.values()) {
      if (!Array.isArray(seen)) continue;
      groups.push({ kind, number: numberOf(seen[0]!), uses: seen.map(use) });
    }
  };
  collect(
    // Only weighings of active trades, as payments (not reversed) and invoices (links to active
    // trades): a ticket re-sent under the trade that replaced a cancelled one is not a reuse.
    weighings.filter((x) => x.buyerKey !== null),
    'weighing',
    (x) => `${x.siteCode}\u001f${x.ticketNo}`,
    (x) => x.ticketNo,
    (x) => ({
      atMs: x.weighedMs,
      record: `${x.platform}:${x.weighingId}`,
      trades: [{ platform: x.platform, trade_id: x.tradeId }],
    }),
  );
  collect(
    payments.filter((p) => !p.reversed),
    'payment',
    (x) => x.serialNo,
    (x) => x.serialNo ?? '',
    (x) => ({
      atMs: x.paidMs,
      record: `${x.platform}:${x.paymentId}`,
      trades: x.trades.map((t) => ({ platform: t.platform, trade_id: t.tradeId })),
    }),
  );
  collect(
    invoices.filter((i) => i.kind !== 'red'),
    'invoice',
    (x) => x.invoiceNo,
    (x) => x.invoiceNo,
    (x) => ({
      atMs: x.issuedMs,
      record: `${x.platform}:${x.invoiceNo}`,
      trades: x.linkedTrades.map((t) => ({ platform: t.platform, trade_id: t.tradeId })),
    }),
  );

  const out: Finding[] = [];
  for (const g of groups) {
    const records = new Set(g.uses.map((u) => u.record));
    const trades = new Map(
      g.uses.flatMap((u) => u.trades.map((t) => [`${t.platform}:${t.trade_id}`, t] as const)),
    );
    if (records.size < 2 || trades.size < 2) continue;
    const latest = g.uses.reduce((a, b) =>
      b.atMs > a.atMs || (b.atMs === a.atMs && b.record > a.record) ? b : a,
    );
    if (periodOfMs(latest.atMs) !== w.period) continue;
    const sortedTrades = [...trades.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, t]) => t);
    const lastTrade = latest.trades[latest.trades.length - 1] ?? sortedTrades[sortedTrades.length - 1]!;
    const party = tradeBuyer.get(`${lastTrade.platform}:${lastTrade.trade_id}`);
    if (!party) continue;
    const zh = { weighing: '地磅单号', payment: '付款流水号', invoice: '发票号码' }[g.kind];
    out.push({
      rule: 'DUPLICATE_DOCUMENT',
      dedupeKey: `${g.kind}:${g.number}`,
      severity: 'high',
      partyKey: party,
      period: w.period,
      trades: sortedTrades,
      documents: [{ kind: g.kind, number: g.number }],
      summaryZh: `${zh} ${g.number} 被 ${trades.size} 笔不同交易重复使用`,
      summaryEn: `${g.kind === 'weighing' ? 'Weighbridge ticket' : g.kind === 'payment' ? 'Payment serial' : 'Invoice number'} ${g.number} is attached to ${trades.size} different trades`,
      evidence: {
        document_kind: g.kind,
        number: g.number,
        records: [...records].sort(),
        trades: trades.size,
      },
    });
  }
  return out;
}

/**
 * SHELL_BURST (走逃风险): an enterprise less than `max_age_days` old at the start of the month
 * sells over ¥5,000,000 excl. VAT in the month. Excl. VAT = total ÷ (1 + levy rate), per trade.
 */
export function shellBurst(w: PeriodWindow, trades: readonly TradeFact[], p: ShellBurstParams): Finding[] {
  const sellers = new Map<string, { name: string; established: string; ex: bigint; trades: TradeFact[] }>();
  for (const t of trades) {
    if (periodOfMs(t.occurredMs) !== w.period || t.seller.kind !== 'enterprise' || !t.seller.establishedOn)
      continue;
    const ageDays = Math.floor((w.startMs - Date.parse(`${t.seller.establishedOn}T00:00:00+08:00`)) / DAY_MS);
    if (ageDays >= p.max_age_days) continue;
    const s = sellers.get(t.seller.key) ?? {
      name: t.seller.name,
      established: t.seller.establishedOn,
      ex: 0n,
      trades: [],
    };
    if (s.trades.length === 0) sellers.set(t.seller.key, s);
    s.ex += exTaxFromInclusive(t.totalFen, { basisPoints: t.levyBp });
    s.trades.push(t);
  }
  const out: Finding[] = [];
  for (const [key, s] of sellers) {
    if (s.ex <= BigInt(p.min_sales_fen)) continue;
    const ageDays = Math.floor((w.startMs - Date.parse(`${s.established}T00:00:00+08:00`)) / DAY_MS);
    out.push({
      rule: 'SHELL_BURST',
      dedupeKey: 'month',
      severity: 'high',
      partyKey: key,
      period: w.period,
      trades: s.trades
        .sort((a, b) => a.occurredMs - b.occurredMs || (a.tradeId < b.tradeId ? -1 : 1))
        .map((t) => ({ platform: t.platform, trade_id: t.tradeId })),
      documents: [],
      summaryZh: `${s.name} 成立仅 ${ageDays} 天，本月销售额（不含税）¥${formatMoney(s.ex)}（走逃风险）`,
      summaryEn: `${s.name}, established ${ageDays} days before the month, sold ¥${formatMoney(s.ex)} excl. VAT this month`,
      evidence: {
        established_on: s.established,
        age_days_at_month_start: ageDays,
        sales_ex_vat: formatMoney(s.ex),
        min_sales: formatMoney(BigInt(p.min_sales_fen)),
        max_age_days: p.max_age_days,
      },
    });
  }
  return out;
}

/** HAZARDOUS_UNLICENSED: a hazardous material sold to a buyer without `hazardous_licensed`. */
export function hazardousUnlicensed(
  w: PeriodWindow,
  trades: readonly TradeFact[],
  hazardous: ReadonlySet<string>,
): Finding[] {
  const out: Finding[] = [];
  for (const t of trades) {
    if (periodOfMs(t.occurredMs) !== w.period || t.buyer.roles.includes('hazardous_licensed')) continue;
    const materials = [
      ...new Set(t.lines.filter((l) => hazardous.has(l.material)).map((l) => l.material)),
    ].sort();
    if (materials.length === 0) continue;
    out.push({
      rule: 'HAZARDOUS_UNLICENSED',
      dedupeKey: `${t.platform}:${t.tradeId}`,
      severity: 'high',
      partyKey: t.buyer.key,
      period: w.period,
      trades: [{ platform: t.platform, trade_id: t.tradeId }],
      documents: [],
      summaryZh: `${t.seller.name} 将危险废物 ${materials.join('、')} 卖给无危险废物经营许可的 ${t.buyer.name}`,
      summaryEn: `${t.seller.name} sold hazardous ${materials.join(', ')} to ${t.buyer.name}, which holds no hazardous-waste licence`,
      evidence: { materials, seller: t.seller.key, buyer: t.buyer.key, buyer_roles: [...t.buyer.roles] },
    });
  }
  return out;
}
