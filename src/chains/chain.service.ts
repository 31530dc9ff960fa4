import type { Db } from '../db/database';
import { formatKg, formatMoney } from '../domain/money';
import {
  computeOrigins,
  formatOrigins,
  type OriginNode,
  type Origins,
  type SellerKind,
} from '../domain/origins';
import {
  type ChainTradeRow,
  type EdgeRow,
  loadChainTrades,
  type TradeRefRow,
  walkAllocations,
} from '../repositories/chains.repository';

export type Direction = 'upstream' | 'downstream' | 'both';

export interface ChainParty {
  key: string;
  name: string;
  kind: string;
  division: string;
}

export interface ChainNode {
  id: string;
  platform: string;
  trade_id: string;
  seller: ChainParty;
  buyer: ChainParty;
  material: string;
  quantity_kg: string;
  amount: string;
  occurred_at: string;
  /** Distance from the root in allocation steps. */
  depth: number;
  side: 'root' | 'upstream' | 'downstream';
  status: string;
}

export interface ChainEdge {
  from: string;
  to: string;
  quantity_kg: string;
  basis: 'declared' | 'fifo';
}

export interface Chain {
  root: string;
  nodes: ChainNode[];
  edges: ChainEdge[];
  origins: { natural_person_kg: string; enterprise_kg: string; unsourced_kg: string };
  truncated: boolean;
}

/** Origins are always traced this deep, whatever depth of nodes the caller asked for. */
export const ORIGINS_DEPTH = 20;

const key = (platform: string, tradeId: string) => `${platform}\u001f${tradeId}`;

export function sellerKindOf(t: Pick<ChainTradeRow, 'seller_kind' | 'seller_roles'>): SellerKind {
  if (t.seller_kind === 'natural_person') return 'natural_person';
  // CONTRACT.md 3: role generator, or any enterprise not registered as recycler/sorting_center.
  // A generator that also recycles is a generator: what it sells may be its own scrap.
  if (t.seller_roles.includes('generator')) return 'generator_enterprise';
  return t.seller_roles.includes('recycler') || t.seller_roles.includes('sorting_center')
    ? 'trading_enterprise'
    : 'generator_enterprise';
}

/** An edge of the answer: a (purchase, sale, basis) with its grams summed over the materials. */
function addEdge(into: Map<string, EdgeRow>, e: EdgeRow): void {
  const k = `${key(e.purchase_platform, e.purchase_trade_id)}>${key(e.sale_platform, e.sale_trade_id)}>${e.basis}`;
  const prior = into.get(k);
  into.set(k, prior ? { ...prior, quantity_g: prior.quantity_g + e.quantity_g } : e);
}

/** Where the allocations into a sale of one material are kept: the sale's key and the material. */
export const supplyKey = (platform: string, tradeId: string, material: string) =>
  `${key(platform, tradeId)}\u001d${material}`;

/**
 * The origins of the root, material by material: allocation covers each sale with purchases of
 * the same material (DOMAIN.md 6), so a multi-material trade in the chain passes each material's
 * composition on to that material only — never its scrap glass's unsourced part to its steel. The
 * nodes handed to computeOrigins are trade lines: a trade and one material (its ref's trade id
 * carries the material after U+001E; material codes never hold it, so the last one splits). The
 * root's parts are the sums over its materials, each apportioned to the gram on its own.
 */
export function chainOrigins(
  root: TradeRefRow,
  byKey: ReadonlyMap<string, ChainTradeRow>,
  supplies: ReadonlyMap<string, readonly EdgeRow[]>,
): Origins & { truncated: boolean } {
  const lineRef = (platform: string, tradeId: string, material: string) => ({
    platform,
    tradeId: `${tradeId}\u001e${material}`,
  });
  const node = (ref: { platform: string; tradeId: string }): OriginNode | undefined => {
    const cut = ref.tradeId.lastIndexOf('\u001e');
    const tradeId = ref.tradeId.slice(0, cut);
    const material = ref.tradeId.slice(cut + 1);
    const t = byKey.get(key(ref.platform, tradeId));
    if (!t) return undefined;
    return {
      ref,
      quantityG: BigInt(t.grams_by_material[material] ?? '0'),
      sellerKind: sellerKindOf(t),
      supplies: (supplies.get(supplyKey(ref.platform, tradeId, material)) ?? []).map((e) => ({
        purchase: lineRef(e.purchase_platform, e.purchase_trade_id, material),
        quantityG: e.quantity_g,
      })),
      unsourcedG: BigInt(t.unsourced_by_material[material] ?? '0'),
    };
  };
  const rootRow = byKey.get(key(root.platform, root.trade_id));
  if (!rootRow) throw new Error(`trade ${root.platform}:${root.trade_id} not found`);
  const total: Origins & { truncated: boolean } = {
    naturalPersonG: 0n,
    enterpriseG: 0n,
    unsourcedG: 0n,
    truncated: false,
  };
  for (const material of Object.keys(rootRow.grams_by_material).sort()) {
    const o = computeOrigins(lineRef(root.platform, root.trade_id, material), node, {
      maxDepth: ORIGINS_DEPTH,
    });
    total.naturalPersonG += o.naturalPersonG;
    total.enterpriseG += o.enterpriseG;
    total.unsourcedG += o.unsourcedG;
    total.truncated ||= o.truncated;
  }
  return total;
}

/**
 * The transaction chain of a trade (CONTRACT.md section 3): breadth-first over the allocations
 * (one recursive statement for both directions, then one for the trades), each trade at its fewest
 * steps from the root (cycle-safe) and a depth bound. Edges go
 * from the supplying purchase to the sale. Origins split the root's quantity by mass balance,
 * traced upstream to ORIGINS_DEPTH levels.
 */
export async function buildChain(
  db: Db,
  root: TradeRefRow,
  opts: { direction: Direction; maxDepth: number },
): Promise<Chain> {
  const depthOf = new Map<string, number>([[key(root.platform, root.trade_id), 0]]);
  const refs = new Map<string, TradeRefRow>([[key(root.platform, root.trade_id), root]]);
  const edges = new Map<string, EdgeRow>();
  let truncated = false;

  // One statement walks both ways (src/repositories/chains.repository.ts, walkAllocations): upstream
  // to ORIGINS_DEPTH levels for the origins (nodes beyond maxDepth are not returned), downstream
  // one level past maxDepth to tell whether the answer is truncated. Each edge carries the level a
  // breadth-first walk finds it at; replaying them level by level gives every node its fewest
  // steps from the root.
  const walk = await walkAllocations(db, root, {
    upDepth: ORIGINS_DEPTH,
    downDepth: opts.direction === 'upstream' ? 0 : opts.maxDepth + 1,
  });
  walk.sort((a, b) => a.depth - b.depth);

  const upstreamSupplies = new Map<string, EdgeRow[]>();
  for (const e of walk) {
    if (e.dir !== 'up') continue;
    const bySale = supplyKey(e.sale_platform, e.sale_trade_id, e.material);
    const list = upstreamSupplies.get(bySale) ?? [];
    if (list.length === 0) upstreamSupplies.set(bySale, list);
    list.push(e);
    const pk = key(e.purchase_platform, e.purchase_trade_id);
    if (opts.direction !== 'downstream') {
      if (e.depth <= opts.maxDepth) {
        addEdge(edges, e);
        if (!depthOf.has(pk)) depthOf.set(pk, -e.depth); // negative: upstream side
      } else truncated = true;
    }
    if (!refs.has(pk)) refs.set(pk, { platform: e.purchase_platform, trade_id: e.purchase_trade_id });
  }

  for (const e of walk) {
    if (e.dir !== 'down') continue;
    if (e.depth > opts.maxDepth) {
      truncated = true;
      continue;
    }
    const sk = key(e.sale_platform, e.sale_trade_id);
    addEdge(edges, e);
    if (!depthOf.has(sk)) depthOf.set(sk, e.depth);
    if (!refs.has(sk)) refs.set(sk, { platform: e.sale_platform, trade_id: e.sale_trade_id });
  }

  const trades = await loadChainTrades(db, [...refs.values()]);
  const byKey = new Map(trades.map((t) => [key(t.platform, t.trade_id), t]));
  const rootRow = byKey.get(key(root.platform, root.trade_id));
  if (!rootRow) throw new Error(`trade ${root.platform}:${root.trade_id} not found`);

  const origins = chainOrigins(root, byKey, upstreamSupplies);

  const party = (k: string, name: string, kind: string, division: string): ChainParty => ({
    key: k,
    name,
    kind,
    division,
  });
  const nodes: ChainNode[] = [];
  for (const [k, depth] of depthOf) {
    const t = byKey.get(k);
    if (!t) continue;
    nodes.push({
      id: t.id.toString(),
      platform: t.platform,
      trade_id: t.trade_id,
      seller: party(t.seller_key, t.seller_name, t.seller_kind, t.seller_division),
      buyer: party(t.buyer_key, t.buyer_name, 'enterprise', t.buyer_division),
      material: t.materials.join(','),
      quantity_kg: formatKg(t.quantity_g),
      amount: formatMoney(t.total_fen),
      occurred_at: t.occurred_at.toISOString(),
      depth: Math.abs(depth),
      side: depth === 0 ? 'root' : depth < 0 ? 'upstream' : 'downstream',
      status: t.status,
    });
  }
  nodes.sort(
    (a, b) =>
      a.depth - b.depth ||
      (a.platform < b.platform ? -1 : a.platform > b.platform ? 1 : a.trade_id < b.trade_id ? -1 : 1),
  );
  const idOf = (platform: string, tradeId: string) => byKey.get(key(platform, tradeId))?.id.toString();
  const chainEdges: ChainEdge[] = [];
  for (const e of edges.values()) {
    const from = idOf(e.purchase_platform, e.purchase_trade_id);
    const to = idOf(e.sale_platform, e.sale_trade_id);
    if (from && to) chainEdges.push({ from, to, quantity_kg: formatKg(e.quantity_g), basis: e.basis });
  }
  chainEdges.sort((a, b) => (a.to === b.to ? (a.from < b.from ? -1 : 1) : a.to < b.to ? -1 : 1));
  return {
    root: rootRow.id.toString(),
    nodes,
    edges: chainEdges,
    origins: formatOrigins(origins),
    truncated: truncated || (origins.truncated && opts.direction !== 'downstream'),
  };
}
