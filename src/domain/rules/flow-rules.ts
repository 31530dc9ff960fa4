import { formatKg, formatMoney } from '../money';
import { shanghaiTime } from '../time';
import type { FlowFact, InvoiceFact, TradeFact } from './facts';
import { DAY_MS, type Finding, type PeriodWindow, periodOfMs, ratio } from './types';

/**
 * Rules on the four flows of each trade. Subject party: the buyer for funds and goods (it pays
 * and weighs), the invoice's issuer for invoices (the seller, or the buying enterprise when it
 * reverse-invoices for a natural person). Time limits are measured on the data clock of the
 * trade's platform, so replaying history gives the same findings. What a finding says (summary and
 * evidence) names the limit and the due time, never the days elapsed: it changes with the facts,
 * not with each tick of the clock — a dismissal stands until the facts change.
 */

export interface PaymentMismatchParams {
  amount_min_fen: number;
  amount_basis_points: number;
  grace_days: number;
}

export interface WeightMismatchParams {
  weight_min_g: number;
  weight_basis_points: number;
  high_basis_points: number;
}

export interface InvoiceMismatchParams {
  amount_min_fen: number;
  amount_basis_points: number;
  weight_min_g: number;
  weight_basis_points: number;
}

export interface MissingFlowParams {
  payment_days: number;
  weighing_days: number;
  invoice_days: number;
}

export interface InvoiceWithoutTradeParams {
  grace_days: number;
}

const ref = (t: TradeFact) => ({ platform: t.platform, trade_id: t.tradeId });
const tol = (base: bigint, min: number, bp: number) => {
  const pct = ((base < 0n ? -base : base) * BigInt(bp)) / 10_000n;
  return pct > BigInt(min) ? pct : BigInt(min);
};
const invoiceIssuer = (t: TradeFact) => (t.seller.kind === 'enterprise' ? t.seller.key : t.buyer.key);

export function paymentMismatch(
  w: PeriodWindow,
  trades: readonly TradeFact[],
  flows: ReadonlyMap<string, FlowFact>,
  clockMs: (platform: string) => number,
  p: PaymentMismatchParams,
): Finding[] {
  const out: Finding[] = [];
  for (const t of trades) {
    const f = flows.get(`${t.platform}:${t.tradeId}`);
    if (!f || f.payments.length === 0) continue; // no payment at all is MISSING_FLOW
    const tolerance = tol(t.totalFen, p.amount_min_fen, p.amount_basis_points);
    const diff = f.paidFen - t.totalFen;
    const dueMs = t.occurredMs + p.grace_days * DAY_MS;
    let severity: 'high' | 'medium' | null = null;
    if (diff > tolerance) severity = 'high';
    else if (-diff > tolerance && clockMs(t.platform) >= dueMs) severity = 'medium';
    if (!severity) continue;
    const over = severity === 'high';
    // What a finding says depends on the facts only, never on how far the clock has moved since
    // (a "days since the trade" would rewrite it at every event, and undo a dismissal).
    out.push({
      rule: 'PAYMENT_MISMATCH',
      dedupeKey: `${t.platform}:${t.tradeId}`,
      severity,
      partyKey: t.buyer.key,
      period: w.period,
      trades: [ref(t)],
      documents: f.payments.map((number) => ({ kind: 'payment' as const, number })),
      summaryZh: over
        ? `交易 ${t.tradeId} 付款 ¥${formatMoney(f.paidFen)} 超出交易金额 ¥${formatMoney(t.totalFen)}（差额 ¥${formatMoney(diff)}）`
        : `交易 ${t.tradeId} 成交满 ${p.grace_days} 天付款仅 ¥${formatMoney(f.paidFen)}，少于交易金额 ¥${formatMoney(t.totalFen)}`,
      summaryEn: over
        ? `Trade ${t.tradeId}: payments of ¥${formatMoney(f.paidFen)} exceed the trade total ¥${formatMoney(t.totalFen)} by ¥${formatMoney(diff)}`
        : `Trade ${t.tradeId}: ${p.grace_days} days after the trade only ¥${formatMoney(f.paidFen)} of ¥${formatMoney(t.totalFen)} has been paid`,
      evidence: {
        trade_total: formatMoney(t.totalFen),
        paid: formatMoney(f.paidFen),
        difference: formatMoney(diff),
        tolerance: formatMoney(tolerance),
        grace_days: p.grace_days,
        ...(over ? {} : { due_at: shanghaiTime(new Date(dueMs)) }),
      },
    });
  }
  return out;
}

export function weightMismatch(
  w: PeriodWindow,
  trades: readonly TradeFact[],
  flows: ReadonlyMap<string, FlowFact>,
  p: WeightMismatchParams,
): Finding[] {
  const out: Finding[] = [];
  for (const t of trades) {
    const f = flows.get(`${t.platform}:${t.tradeId}`);
    if (!f || f.weighings.length === 0) continue;
    const diff = f.weighedG - t.quantityG;
    const abs = diff < 0n ? -diff : diff;
    const tolerance = tol(t.quantityG, p.weight_min_g, p.weight_basis_points);
    if (abs <= tolerance) continue;
    const high = abs * 10_000n > t.quantityG * BigInt(p.high_basis_points);
    out.push({
      rule: 'WEIGHT_MISMATCH',
      dedupeKey: `${t.platform}:${t.tradeId}`,
      severity: high ? 'high' : 'medium',
      partyKey: t.buyer.key,
      period: w.period,
      trades: [ref(t)],
      documents: f.weighings.map((x) => ({ kind: 'weighing' as const, number: x.ticketNo })),
      summaryZh: `交易 ${t.tradeId} 地磅净重合计 ${formatKg(f.weighedG)} kg，与成交数量 ${formatKg(t.quantityG)} kg 相差 ${formatKg(diff)} kg`,
      summaryEn: `Trade ${t.tradeId}: weighbridge net ${formatKg(f.weighedG)} kg differs from the traded ${formatKg(t.quantityG)} kg by ${formatKg(diff)} kg`,
      evidence: {
        traded_kg: formatKg(t.quantityG),
        weighed_kg: formatKg(f.weighedG),
        difference_kg: formatKg(diff),
        difference_ratio: ratio(diff, t.quantityG),
        tolerance_kg: formatKg(tolerance),
        high_above_ratio: ratio(BigInt(p.high_basis_points), 10_000n),
      },
    });
  }
  return out;
}

export function invoiceMismatch(
  w: PeriodWindow,
  trades: readonly TradeFact[],
  flows: ReadonlyMap<string, FlowFact>,
  p: InvoiceMismatchParams,
): Finding[] {
  const out: Finding[] = [];
  for (const t of trades) {
    const f = flows.get(`${t.platform}:${t.tradeId}`);
    if (!f || f.invoices.length === 0 || f.invoiceStatus === 'missing') continue;
    const tradeMaterials = [...new Set(t.lines.map((l) => l.material))].sort();
    const invoiced = f.differences.material?.invoiced;
    const materialChanged = invoiced?.some((m) => !tradeMaterials.includes(m));
    const amountTol = tol(t.totalFen, p.amount_min_fen, p.amount_basis_points);
    const amountDiff = f.invoicedFen - t.totalFen;
    const amountOff = (amountDiff < 0n ? -amountDiff : amountDiff) > amountTol;
    const quantityTol = tol(t.quantityG, p.weight_min_g, p.weight_basis_points);
    const quantityDiff = f.invoicedG - t.quantityG;
    const quantityOff = f.invoicedG > 0n && (quantityDiff < 0n ? -quantityDiff : quantityDiff) > quantityTol;
    if (!materialChanged && !amountOff && !quantityOff) continue;
    out.push({
      rule: 'INVOICE_MISMATCH',
      dedupeKey: `${t.platform}:${t.tradeId}`,
      severity: materialChanged ? 'high' : 'medium',
      partyKey: invoiceIssuer(t),
      period: w.period,
      trades: [ref(t)],
      documents: f.invoices.map((n) => ({ kind: 'invoice' as const, number: n })),
      summaryZh: materialChanged
        ? `交易 ${t.tradeId} 的发票品名（${invoiced?.join('、')}）与交易品名（${tradeMaterials.join('、')}）不符（变票）`
        : `交易 ${t.tradeId} 的发票金额或数量与交易不符（发票 ¥${formatMoney(f.invoicedFen)}，交易 ¥${formatMoney(t.totalFen)}）`,
      summaryEn: materialChanged
        ? `Trade ${t.tradeId}: the invoice names ${invoiced?.join(', ')} but the trade was ${tradeMaterials.join(', ')} (changed goods description)`
        : `Trade ${t.tradeId}: invoice amount or quantity differs from the trade (invoiced ¥${formatMoney(f.invoicedFen)}, traded ¥${formatMoney(t.totalFen)})`,
      evidence: {
        trade_materials: tradeMaterials,
        invoiced_materials: invoiced ?? tradeMaterials,
        trade_total: formatMoney(t.totalFen),
        invoiced_total: formatMoney(f.invoicedFen),
        amount_tolerance: formatMoney(amountTol),
        traded_kg: formatKg(t.quantityG),
        invoiced_kg: formatKg(f.invoicedG),
        quantity_tolerance_kg: formatKg(quantityTol),
      },
    });
  }
  return out;
}

export function missingFlow(
  w: PeriodWindow,
  trades: readonly TradeFact[],
  flows: ReadonlyMap<string, FlowFact>,
  clockMs: (platform: string) => number,
  p: MissingFlowParams,
): Finding[] {
  const out: Finding[] = [];
  for (const t of trades) {
    const f = flows.get(`${t.platform}:${t.tradeId}`);
    if (!f) continue;
    const clock = clockMs(t.platform);
    const missing: {
      flow: 'payment' | 'weighing' | 'invoice';
      severity: 'medium' | 'low';
      limit: number;
      party: string;
    }[] = [];
    if (f.payments.length === 0 && clock >= t.occurredMs + p.payment_days * DAY_MS) {
      missing.push({ flow: 'payment', severity: 'medium', limit: p.payment_days, party: t.buyer.key });
    }
    if (f.weighings.length === 0 && clock >= t.occurredMs + p.weighing_days * DAY_MS) {
      missing.push({ flow: 'weighing', severity: 'medium', limit: p.weighing_days, party: t.buyer.key });
    }
    if (
      t.seller.kind === 'enterprise' &&
      f.invoiceStatus === 'missing' &&
      clock >= t.occurredMs + p.invoice_days * DAY_MS
    ) {
      missing.push({ flow: 'invoice', severity: 'low', limit: p.invoice_days, party: t.seller.key });
    }
    for (const m of missing) {
      const zh = { payment: '付款', weighing: '过磅', invoice: '发票' }[m.flow];
      out.push({
        rule: 'MISSING_FLOW',
        dedupeKey: `${t.platform}:${t.tradeId}:${m.flow}`,
        severity: m.severity,
        partyKey: m.party,
        period: w.period,
        trades: [ref(t)],
        documents: [],
        summaryZh: `交易 ${t.tradeId} 成交满 ${m.limit} 天仍无${zh}记录`,
        summaryEn: `Trade ${t.tradeId}: no ${m.flow} ${m.limit} days after the trade`,
        evidence: {
          missing_flow: m.flow,
          limit_days: m.limit,
          due_at: shanghaiTime(new Date(t.occurredMs + m.limit * DAY_MS)),
        },
      });
    }
  }
  return out;
}

/**
 * INVOICE_WITHOUT_TRADE (票货分离): a blue invoice, `grace_days` after issue on the data clock,
 * matches no active trade — none linked (declared or matched) and none among tied candidates.
 */
export function invoiceWithoutTrade(
  w: PeriodWindow,
  invoices: readonly InvoiceFact[],
  clockMs: (platform: string) => number,
  p: InvoiceWithoutTradeParams,
): Finding[] {
  const out: Finding[] = [];
  for (const i of invoices) {
    if (i.kind === 'red' || periodOfMs(i.issuedMs) !== w.period) continue;
    // Matching trades it has, even when they tied and none was linked (票货分离 is an invoice
    // without goods, not one the matcher would not guess between).
    if (i.linkedTrades.length > 0 || i.ambiguousTrades.length > 0) continue;
    if (i.totalExFen + i.redExFen <= 0n) continue; // fully reversed
    const clock = clockMs(i.platform);
    if (clock < i.issuedMs + p.grace_days * DAY_MS) continue;
    const party = i.sellerKind === 'enterprise' ? i.sellerKey : i.buyerKey;
    if (!party) continue;
    out.push({
      rule: 'INVOICE_WITHOUT_TRADE',
      dedupeKey: `${i.platform}:${i.invoiceNo}`,
      severity: 'high',
      partyKey: party,
      period: w.period,
      trades: [],
      documents: [{ kind: 'invoice', number: i.invoiceNo }],
      summaryZh: `发票 ${i.invoiceNo}（不含税 ¥${formatMoney(i.totalExFen)}）开具满 ${p.grace_days} 天仍无对应交易（票货分离）`,
      summaryEn: `Invoice ${i.invoiceNo} (¥${formatMoney(i.totalExFen)} excl. VAT) matches no trade ${p.grace_days} days after issue`,
      evidence: {
        invoice_no: i.invoiceNo,
        total_ex_tax: formatMoney(i.totalExFen),
        grace_days: p.grace_days,
        due_at: shanghaiTime(new Date(i.issuedMs + p.grace_days * DAY_MS)),
      },
    });
  }
  return out;
}
