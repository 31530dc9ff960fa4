import { formatKg, formatMoney } from '../money';
import type { AllocationFact, PartyFact, SaleResultFact, TradeFact } from './facts';
import { DAY_MS, type Finding, type PeriodWindow, periodOfMs, ratio } from './types';

/** Rules on stock and the chain: what a trading enterprise sold against what it had bought. */

export interface UnsourcedSaleParams {
  min_kg: number;
  min_share_basis_points: number;
}

export interface PassThroughParams {
  min_cover_basis_points: number;
  max_hours: number;
  quantity_basis_points: number;
  max_margin_basis_points: number;
}

export interface CircularTradingParams {
  window_days: number;
  max_parties: number;
}

/**
 * Recyclers and sorting centres resell what they bought; generators sell their own scrap (a
 * generator that also recycles may too, so it is not held to its purchases: CONTRACT.md 3).
 */
export const isTrading = (p: Pick<PartyFact, 'kind' | 'roles'>) =>
  p.kind === 'enterprise' &&
  !p.roles.includes('generator') &&
  (p.roles.includes('recycler') || p.roles.includes('sorting_center'));

/** UNSOURCED_SALE: unsourced quantity of a material in a month > max(min_kg, share of its sales). */
export function unsourcedSale(
  w: PeriodWindow,
  sales: readonly SaleResultFact[],
  parties: ReadonlyMap<string, PartyFact>,
  p: UnsourcedSaleParams,
): Finding[] {
  const groups = new Map<string, SaleResultFact[]>();
  for (const s of sales) {
    if (periodOfMs(s.saleMs) !== w.period) continue;
    const party = parties.get(s.partyKey);
    if (!party || !isTrading(party)) continue;
    const k = `${s.partyKey}\u001f${s.material}`;
    const list = groups.get(k) ?? [];
    if (list.length === 0) groups.set(k, list);
    list.push(s);
  }
  const out: Finding[] = [];
  for (const list of groups.values()) {
    const { partyKey, material } = list[0]!;
    const soldG = list.reduce((s, x) => s + x.quantityG, 0n);
    const unsourcedG = list.reduce((s, x) => s + x.unsourcedG, 0n);
    const byShare = (soldG * BigInt(p.min_share_basis_points)) / 10_000n;
    const threshold = byShare > BigInt(p.min_kg) * 1000n ? byShare : BigInt(p.min_kg) * 1000n;
    if (unsourcedG <= threshold) continue;
    const supporting = list
      .filter((x) => x.unsourcedG > 0n)
      .sort((a, b) => a.saleMs - b.saleMs || (a.tradeId < b.tradeId ? -1 : 1));
    const name = parties.get(partyKey)?.name ?? partyKey;
    out.push({
      rule: 'UNSOURCED_SALE',
      dedupeKey: material,
      severity: 'high',
      partyKey,
      period: w.period,
      trades: supporting.map((x) => ({ platform: x.platform, trade_id: x.tradeId })),
      documents: [],
      summaryZh: `${name} 本月销售 ${material} ${formatKg(soldG)} kg，其中 ${formatKg(unsourcedG)} kg 无购进来源`,
      summaryEn: `${name} sold ${formatKg(soldG)} kg of ${material} this month, ${formatKg(unsourcedG)} kg of it not covered by any purchase`,
      evidence: {
        material,
        sold_kg: formatKg(soldG),
        unsourced_kg: formatKg(unsourcedG),
        unsourced_share: ratio(unsourcedG, soldG),
        threshold_kg: formatKg(threshold),
        min_kg: p.min_kg,
        min_share: ratio(BigInt(p.min_share_basis_points), 10_000n),
      },
    });
  }
  return out;
}

/**
 * PASS_THROUGH (过票): a sale at least `min_cover` covered by one purchase made less than
 * `max_hours` before it, quantities within `quantity_bp`, and a price margin under `max_margin`.
 * Prices compare per gram, exactly: (sale fen / sale g) vs (purchase fen / purchase g).
 */
export function passThrough(
  w: PeriodWindow,
  allocations: readonly AllocationFact[],
  parties: ReadonlyMap<string, PartyFact>,
  p: PassThroughParams,
): Finding[] {
  const bySalePurchase = new Map<string, { a: AllocationFact; g: bigint }>();
  for (const a of allocations) {
    if (periodOfMs(a.sale.atMs) !== w.period) continue;
    const k = `${a.partyKey}\u001f${a.material}\u001f${a.sale.platform}:${a.sale.tradeId}\u001f${a.purchase.platform}:${a.purchase.tradeId}`;
    const prior = bySalePurchase.get(k);
    bySalePurchase.set(k, { a, g: (prior?.g ?? 0n) + a.quantityG });
  }
  const out: Finding[] = [];
  for (const { a, g } of bySalePurchase.values()) {
    const { sale, purchase } = a;
    if (g * 10_000n < sale.quantityG * BigInt(p.min_cover_basis_points)) continue;
    const hours = (sale.atMs - purchase.atMs) / 3_600_000;
    if (!(sale.atMs > purchase.atMs && sale.atMs - purchase.atMs < p.max_hours * 3_600_000)) continue;
    const dq = sale.quantityG - purchase.quantityG;
    if ((dq < 0n ? -dq : dq) * 10_000n > purchase.quantityG * BigInt(p.quantity_basis_points)) continue;
    if (purchase.amountFen <= 0n || purchase.quantityG <= 0n || sale.quantityG <= 0n) continue;
    // margin = (sale price − purchase price) / purchase price, prices per gram:
    // (sF/sG − pF/pG) / (pF/pG) = (sF·pG − pF·sG) / (pF·sG)
    const num = sale.amountFen * purchase.quantityG - purchase.amountFen * sale.quantityG;
    const den = purchase.amountFen * sale.quantityG;
    if (num * 10_000n >= den * BigInt(p.max_margin_basis_points)) continue;
    const name = parties.get(a.partyKey)?.name ?? a.partyKey;
    out.push({
      rule: 'PASS_THROUGH',
      dedupeKey: `${sale.platform}:${sale.tradeId}`,
      severity: 'high',
      partyKey: a.partyKey,
      period: w.period,
      trades: [
        { platform: purchase.platform, trade_id: purchase.tradeId },
        { platform: sale.platform, trade_id: sale.tradeId },
      ],
      documents: [],
      summaryZh: `${name} 购进 ${formatKg(purchase.quantityG)} kg ${a.material} 后 ${hours.toFixed(1)} 小时内几乎原量转售，毛利率 ${ratio(num * 100n, den)}%（过票嫌疑）`,
      summaryEn: `${name} resold ${formatKg(sale.quantityG)} kg of ${a.material} ${hours.toFixed(1)} h after buying ${formatKg(purchase.quantityG)} kg, margin ${ratio(num * 100n, den)}%`,
      evidence: {
        material: a.material,
        purchase_trade: purchase.tradeId,
        sale_trade: sale.tradeId,
        covered_share: ratio(g, sale.quantityG),
        hours_between: Number(hours.toFixed(2)),
        purchase_kg: formatKg(purchase.quantityG),
        sale_kg: formatKg(sale.quantityG),
        purchase_amount: formatMoney(purchase.amountFen),
        sale_amount: formatMoney(sale.amountFen),
        margin: ratio(num, den),
        max_margin: ratio(BigInt(p.max_margin_basis_points), 10_000n),
      },
    });
  }
  return out;
}

/**
 * CIRCULAR_TRADING: enterprises trade the same material in a cycle whose trades all fall within
 * `window_days`: 2 parties (对开) high, 3 to `max_parties` (环开) critical. A cycle is reported
 * in the month of its latest trade, once for each party in it.
 */
export function circularTrading(
  w: PeriodWindow,
  trades: readonly TradeFact[],
  p: CircularTradingParams,
): Finding[] {
  // edges[material][seller][buyer] = trades, enterprise to enterprise only
  const graphs = new Map<string, Map<string, Map<string, TradeFact[]>>>();
  for (const t of trades) {
    if (t.seller.kind !== 'enterprise' || t.buyer.kind !== 'enterprise' || t.seller.key === t.buyer.key)
      continue;
    if (t.occurredMs >= w.endMs || t.occurredMs < w.startMs - p.window_days * DAY_MS) continue;
    for (const m of new Set(t.lines.map((l) => l.material))) {
      const g = graphs.get(m) ?? new Map();
      if (g.size === 0) graphs.set(m, g);
      const row = g.get(t.seller.key) ?? new Map();
      if (row.size === 0) g.set(t.seller.key, row);
      const list = row.get(t.buyer.key) ?? [];
      if (list.length === 0) row.set(t.buyer.key, list);
      list.push(t);
    }
  }
  const out: Finding[] = [];
  const names = new Map(
    trades.flatMap((t) => [[t.seller.key, t.seller.name] as const, [t.buyer.key, t.buyer.name] as const]),
  );
  for (const [material, g] of [...graphs].sort(([a], [b]) => (a < b ? -1 : 1))) {
    for (const cycle of simpleCycles(g, p.max_parties)) {
      const edgeTrades = cycle.map((from, i) => g.get(from)!.get(cycle[(i + 1) % cycle.length]!)!);
      const chosen = tightestSelection(edgeTrades, p.window_days * DAY_MS);
      if (!chosen) continue;
      const latest = Math.max(...chosen.map((t) => t.occurredMs));
      if (latest < w.startMs || latest >= w.endMs) continue;
      const severity = cycle.length === 2 ? 'high' : 'critical';
      const path = [...cycle, cycle[0]!].map((k) => names.get(k) ?? k).join(' → ');
      const spanDays = Math.round((latest - Math.min(...chosen.map((t) => t.occurredMs))) / DAY_MS);
      for (const party of cycle) {
        out.push({
          rule: 'CIRCULAR_TRADING',
          dedupeKey: `${material}:${cycle.join('>')}`,
          severity,
          partyKey: party,
          period: w.period,
          trades: chosen.map((t) => ({ platform: t.platform, trade_id: t.tradeId })),
          documents: [],
          summaryZh: `${cycle.length} 家企业在 ${spanDays} 天内循环买卖 ${material}：${path}（${cycle.length === 2 ? '对开' : '环开'}）`,
          summaryEn: `${cycle.length} enterprises traded ${material} in a cycle within ${spanDays} days: ${path}`,
          evidence: {
            material,
            parties: cycle,
            cycle_length: cycle.length,
            span_days: spanDays,
            window_days: p.window_days,
          },
        });
      }
    }
  }
  return out;
}

/** Simple cycles up to `maxLen` nodes, each reported once, rotated to start at its smallest key. */
export function simpleCycles(
  g: ReadonlyMap<string, ReadonlyMap<string, unknown>>,
  maxLen: number,
): string[][] {
  const nodes = [...g.keys()].sort();
  const out: string[][] = [];
  for (const start of nodes) {
    // Only cycles whose smallest node is `start`: each cycle is found exactly once.
    const path = [start];
    const onPath = new Set(path);
    const walk = (node: string) => {
      for (const next of [...(g.get(node)?.keys() ?? [])].sort()) {
        if (next === start && path.length >= 2) out.push([...path]);
        else if (next > start && !onPath.has(next) && path.length < maxLen) {
          path.push(next);
          onPath.add(next);
          walk(next);
          path.pop();
          onPath.delete(next);
        }
      }
    };
    walk(start);
  }
  return out;
}

/**
 * One trade per edge such that all lie within `spanMs` of each other, choosing the latest such
 * set (the cycle's most recent instance); null when none exists.
 */
function tightestSelection(edges: readonly (readonly TradeFact[])[], spanMs: number): TradeFact[] | null {
  const all = edges
    .flatMap((list, e) => list.map((t) => ({ t, e })))
    .sort((a, b) => b.t.occurredMs - a.t.occurredMs || (a.t.tradeId < b.t.tradeId ? -1 : 1));
  // For each candidate latest trade, take per edge the latest trade not after it and within span.
  for (const { t: anchor } of all) {
    const chosen: TradeFact[] = [];
    for (const list of edges) {
      const pick = [...list]
        .filter((x) => x.occurredMs <= anchor.occurredMs && anchor.occurredMs - x.occurredMs <= spanMs)
        .sort((a, b) => b.occurredMs - a.occurredMs || (a.tradeId < b.tradeId ? -1 : 1))[0];
      if (!pick) break;
      chosen.push(pick);
    }
    if (chosen.length === edges.length) return chosen;
  }
  return null;
}
