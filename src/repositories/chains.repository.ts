import { sql } from 'kysely';
import type { Db } from '../db/database';

export interface TradeRefRow {
  platform: string;
  trade_id: string;
}

export interface EdgeRow {
  purchase_platform: string;
  purchase_trade_id: string;
  sale_platform: string;
  sale_trade_id: string;
  basis: 'declared' | 'fifo';
  quantity_g: bigint;
}

/** Allocations into the given sales (their supplying purchases): one level upstream. */
export async function edgesIntoSales(db: Db, sales: readonly TradeRefRow[]): Promise<EdgeRow[]> {
  if (sales.length === 0) return [];
  const r = await sql<EdgeRow>`
    SELECT a.purchase_platform, a.purchase_trade_id, a.sale_platform, a.sale_trade_id, a.basis, sum(a.quantity_g)::bigint AS quantity_g
    FROM allocations a JOIN unnest(${sales.map((s) => s.platform)}::text[], ${sales.map((s) => s.trade_id)}::text[]) AS k(platform, trade_id)
      ON a.sale_platform = k.platform AND a.sale_trade_id = k.trade_id
    GROUP BY 1, 2, 3, 4, 5`.execute(db);
  return r.rows;
}

/** Allocations out of the given purchases (the sales they supplied): one level downstream. */
export async function edgesFromPurchases(db: Db, purchases: readonly TradeRefRow[]): Promise<EdgeRow[]> {
  if (purchases.length === 0) return [];
  const r = await sql<EdgeRow>`
    SELECT a.purchase_platform, a.purchase_trade_id, a.sale_platform, a.sale_trade_id, a.basis, sum(a.quantity_g)::bigint AS quantity_g
    FROM allocations a JOIN unnest(${purchases.map((s) => s.platform)}::text[], ${purchases.map((s) => s.trade_id)}::text[]) AS k(platform, trade_id)
      ON a.purchase_platform = k.platform AND a.purchase_trade_id = k.trade_id
    GROUP BY 1, 2, 3, 4, 5`.execute(db);
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
  unsourced_g: bigint;
}

/** The trades of a chain with their parties and their unsourced grams (all materials). */
export async function loadChainTrades(db: Db, refs: readonly TradeRefRow[]): Promise<ChainTradeRow[]> {
  if (refs.length === 0) return [];
  const r = await sql<ChainTradeRow>`
    SELECT t.id, t.platform, t.trade_id, t.status, t.occurred_at, t.total_fen, t.quantity_g, t.materials,
           t.seller_key, t.seller_kind, s.name AS seller_name, t.seller_division, s.roles AS seller_roles,
           t.buyer_key, b.name AS buyer_name, t.buyer_division,
           COALESCE((SELECT sum(r.unsourced_g) FROM sale_results r WHERE r.platform = t.platform AND r.trade_id = t.trade_id), 0)::bigint
             AS unsourced_g
    FROM trades t JOIN unnest(${refs.map((s) => s.platform)}::text[], ${refs.map((s) => s.trade_id)}::text[]) AS k(platform, trade_id)
      ON t.platform = k.platform AND t.trade_id = k.trade_id
    JOIN parties s ON s.party_key = t.seller_key
    JOIN parties b ON b.party_key = t.buyer_key`.execute(db);
  return r.rows;
}

/** Resolves `{id}` of the API: the internal id, or `{platform}:{trade_id}`. */
export async function findTradeRef(db: Db, id: string): Promise<TradeRefRow | null> {
  const colon = id.indexOf(':');
  if (colon > 0) {
    const row = await db
      .selectFrom('trades')
      .select(['platform', 'trade_id'])
      .where('platform', '=', id.slice(0, colon))
      .where('trade_id', '=', id.slice(colon + 1))
      .executeTakeFirst();
    return row ?? null;
  }
  if (!/^\d{1,18}$/.test(id)) return null;
  const row = await db
    .selectFrom('trades')
    .select(['platform', 'trade_id'])
    .where('id', '=', BigInt(id))
    .executeTakeFirst();
  return row ?? null;
}
