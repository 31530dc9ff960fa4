import { sql } from 'kysely';
import type { Db } from '../db/database';
import { PLATFORM_CODE } from './platforms.repository';

export interface TradeRefRow {
  platform: string;
  trade_id: string;
}

export interface EdgeRow {
  purchase_platform: string;
  purchase_trade_id: string;
  sale_platform: string;
  sale_trade_id: string;
  /** Allocation is per material (DOMAIN.md 6): a multi-material sale has an edge per material. */
  material: string;
  basis: 'declared' | 'fifo';
  quantity_g: bigint;
}

/** Allocations into the given sales (their supplying purchases): one level upstream. */
export async function edgesIntoSales(db: Db, sales: readonly TradeRefRow[]): Promise<EdgeRow[]> {
  if (sales.length === 0) return [];
  const r = await sql<EdgeRow>`
    SELECT a.purchase_platform, a.purchase_trade_id, a.sale_platform, a.sale_trade_id, a.material, a.basis,
           sum(a.quantity_g)::bigint AS quantity_g
    FROM allocations a JOIN unnest(${sales.map((s) => s.platform)}::text[], ${sales.map((s) => s.trade_id)}::text[]) AS k(platform, trade_id)
      ON a.sale_platform = k.platform AND a.sale_trade_id = k.trade_id
    GROUP BY 1, 2, 3, 4, 5, 6`.execute(db);
  return r.rows;
}

/** Allocations out of the given purchases (the sales they supplied): one level downstream. */
export async function edgesFromPurchases(db: Db, purchases: readonly TradeRefRow[]): Promise<EdgeRow[]> {
  if (purchases.length === 0) return [];
  const r = await sql<EdgeRow>`
    SELECT a.purchase_platform, a.purchase_trade_id, a.sale_platform, a.sale_trade_id, a.material, a.basis,
           sum(a.quantity_g)::bigint AS quantity_g
    FROM allocations a JOIN unnest(${purchases.map((s) => s.platform)}::text[], ${purchases.map((s) => s.trade_id)}::text[]) AS k(platform, trade_id)
      ON a.purchase_platform = k.platform AND a.purchase_trade_id = k.trade_id
    GROUP BY 1, 2, 3, 4, 5, 6`.execute(db);
  return r.rows;
}

export interface WalkEdgeRow extends EdgeRow {
  /** `up`: an allocation into a sale reached upstream; `down`: out of a purchase reached downstream. */
  dir: 'up' | 'down';
  /**
   * The level at which a breadth-first walk finds the edge: 1 + the fewest steps from the root to
   * the trade it was reached from (the sale upstream, the purchase downstream).
   */
  depth: number;
}

/**
 * The allocations around a trade in one statement: two depth-bounded recursive walks, upstream
 * (into sales, `upDepth` levels) and downstream (out of purchases, `downDepth` levels). The walks
 * carry the allocation rows themselves, each with the level it was reached at; UNION keeps each
 * (row, level) once, so a cycle ends at the depth bound and a diamond is not enumerated path by
 * path. An edge's level is then the lowest it was reached at: the level a breadth-first walk with a
 * visited set finds it at (the trade it was reached from, at its fewest steps from the root, plus
 * one). A walk with depth 0 reads nothing. Raw SQL: kysely cannot say WITH RECURSIVE … UNION.
 */
export async function walkAllocations(
  db: Db,
  root: TradeRefRow,
  opts: { upDepth: number; downDepth: number },
): Promise<WalkEdgeRow[]> {
  const r = await sql<WalkEdgeRow>`
    WITH RECURSIVE up AS (
      SELECT a.party_key, a.material, a.purchase_platform, a.purchase_trade_id, a.sale_platform, a.sale_trade_id,
             a.basis, a.quantity_g, 1 AS depth
      FROM allocations a
      WHERE a.sale_platform = ${root.platform} AND a.sale_trade_id = ${root.trade_id} AND ${opts.upDepth}::int > 0
      UNION
      SELECT a.party_key, a.material, a.purchase_platform, a.purchase_trade_id, a.sale_platform, a.sale_trade_id,
             a.basis, a.quantity_g, up.depth + 1
      FROM up JOIN allocations a ON a.sale_platform = up.purchase_platform AND a.sale_trade_id = up.purchase_trade_id
      WHERE up.depth < ${opts.upDepth}::int
    ), down AS (
      SELECT a.party_key, a.material, a.purchase_platform, a.purchase_trade_id, a.sale_platform, a.sale_trade_id,
             a.basis, a.quantity_g, 1 AS depth
      FROM allocations a
      WHERE a.purchase_platform = ${root.platform} AND a.purchase_trade_id = ${root.trade_id} AND ${opts.downDepth}::int > 0
      UNION
      SELECT a.party_key, a.material, a.purchase_platform, a.purchase_trade_id, a.sale_platform, a.sale_trade_id,
             a.basis, a.quantity_g, down.depth + 1
      FROM down JOIN allocations a ON a.purchase_platform = down.sale_platform AND a.purchase_trade_id = down.sale_trade_id
      WHERE down.depth < ${opts.downDepth}::int
    ), walked AS (
      -- One row per allocation row (its key is all of it but the grams) at its lowest level.
      SELECT 'up' AS dir, party_key, material, purchase_platform, purchase_trade_id, sale_platform, sale_trade_id,
             basis, quantity_g, min(depth) AS depth
      FROM up GROUP BY 2, 3, 4, 5, 6, 7, 8, 9
      UNION ALL
      SELECT 'down' AS dir, party_key, material, purchase_platform, purchase_trade_id, sale_platform, sale_trade_id,
             basis, quantity_g, min(depth) AS depth
      FROM down GROUP BY 2, 3, 4, 5, 6, 7, 8, 9
    )
    SELECT dir, min(depth) AS depth, purchase_platform, purchase_trade_id, sale_platform, sale_trade_id, material, basis,
           sum(quantity_g)::bigint AS quantity_g
    FROM walked
    GROUP BY dir, purchase_platform, purchase_trade_id, sale_platform, sale_trade_id, material, basis`.execute(
    db,
  );
  return r.rows;
}

export interface ChainTradeRow {
  id: bigint;
  platform: string;
  trade_id: string;
  status: string;
  occurred_at: Date;
  total_fen: bigint;
  quantity_g: bigint;
  materials: string[];
  seller_key: string;
  seller_kind: string;
  seller_name: string;
  seller_division: string;
  seller_roles: string[];
  buyer_key: string;
  buyer_name: string;
  buyer_division: string;
  /** Grams per material of the trade's lines (decimal strings). */
  grams_by_material: Record<string, string>;
  /**
   * Unsourced grams per material of the trade's sale (decimal strings; a material without
   * unsourced grams may be absent). Empty when a natural person sold it: such a trade is an origin
   * in itself (src/domain/origins.ts never reads it), and most nodes of an upstream chain are
   * purchases from persons, so the lookup is skipped for them.
   */
  unsourced_by_material: Record<string, string>;
}

/** The trades of a chain with their parties, and their grams and unsourced grams per material. */
export async function loadChainTrades(db: Db, refs: readonly TradeRefRow[]): Promise<ChainTradeRow[]> {
  if (refs.length === 0) return [];
  const r = await sql<ChainTradeRow>`
    SELECT t.id, t.platform, t.trade_id, t.status, t.occurred_at, t.total_fen, t.quantity_g, t.materials,
           t.seller_key, t.seller_kind, s.name AS seller_name, t.seller_division, s.roles AS seller_roles,
           t.buyer_key, b.name AS buyer_name, t.buyer_division,
           COALESCE((SELECT jsonb_object_agg(l.material, l.g) FROM (
                       SELECT e->>'material' AS material, sum((e->>'quantity_g')::bigint)::text AS g
                       FROM jsonb_array_elements(t.lines) e GROUP BY 1) l), '{}') AS grams_by_material,
           CASE WHEN t.seller_kind = 'natural_person' THEN '{}'::jsonb
                ELSE COALESCE((SELECT jsonb_object_agg(r.material, r.unsourced_g::text) FROM sale_results r
                               WHERE r.platform = t.platform AND r.trade_id = t.trade_id), '{}')
           END AS unsourced_by_material
    FROM trades t JOIN unnest(${refs.map((s) => s.platform)}::text[], ${refs.map((s) => s.trade_id)}::text[]) AS k(platform, trade_id)
      ON t.platform = k.platform AND t.trade_id = k.trade_id
    JOIN parties s ON s.party_key = t.seller_key
    JOIN parties b ON b.party_key = t.buyer_key`.execute(db);
  return r.rows;
}

/** `{id}` of the API: the internal id, or `{platform}:{trade_id}`. */
export type TradeKey = { id: bigint } | TradeRefRow;

/** Reads `{id}` of the API; null when it can name no trade. */
export function parseTradeKey(id: string): TradeKey | null {
  const colon = id.indexOf(':');
  if (colon > 0) {
    const platform = id.slice(0, colon);
    const tradeId = id.slice(colon + 1);
    // Neither part can hold U+0000 or a lone surrogate (PostgreSQL's text refuses them).
    if (!PLATFORM_CODE.test(platform) || tradeId.includes('\u0000') || !tradeId.isWellFormed()) return null;
    return { platform, trade_id: tradeId };
  }
  if (!/^\d{1,18}$/.test(id)) return null;
  return { id: BigInt(id) };
}

/** Resolves `{id}` of the API: the internal id, or `{platform}:{trade_id}`. */
export async function findTradeRef(db: Db, id: string): Promise<TradeRefRow | null> {
  const key = parseTradeKey(id);
  if (!key) return null;
  let q = db.selectFrom('trades').select(['platform', 'trade_id']);
  q =
    'id' in key
      ? q.where('id', '=', key.id)
      : q.where('platform', '=', key.platform).where('trade_id', '=', key.trade_id);
  return (await q.executeTakeFirst()) ?? null;
}
