import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildChain,
  type Chain,
  chainOrigins,
  type Direction,
  ORIGINS_DEPTH,
  supplyKey,
} from '../../src/chains/chain.service';
import type { Db } from '../../src/db/database';
import { formatKg, formatMoney } from '../../src/domain/money';
import { formatOrigins } from '../../src/domain/origins';
import {
  type EdgeRow,
  edgesFromPurchases,
  edgesIntoSales,
  loadChainTrades,
  type TradeRefRow,
} from '../../src/repositories/chains.repository';
import { createTestContext, type TestContext } from '../support/context';

/**
 * buildChain walks the allocations with one recursive statement. This checks it against the
 * level-by-level walk it replaced (one query per level and direction, a visited set), kept below
 * as the oracle, on random allocation graphs with cycles (inconsistent data: allocation itself never
 * makes one), diamonds, both bases on one edge, unsourced parts, and parties in several districts.
 */

let ctx: TestContext;
afterAll(async () => ctx?.close());

const key = (platform: string, tradeId: string) => `${platform}\u001f${tradeId}`;

/** The previous implementation of buildChain (level by level), as the oracle. */
async function buildChainLevelByLevel(
  db: Db,
  root: TradeRefRow,
  opts: { direction: Direction; maxDepth: number },
): Promise<Chain> {
  const depthOf = new Map<string, number>([[key(root.platform, root.trade_id), 0]]);
  const refs = new Map<string, TradeRefRow>([[key(root.platform, root.trade_id), root]]);
  const edges = new Map<string, EdgeRow>();
  // The answer's edges are per (purchase, sale, basis), summed over materials.
  const addEdge = (k: string, e: EdgeRow) => {
    const prior = edges.get(k);
    edges.set(k, prior ? { ...prior, quantity_g: prior.quantity_g + e.quantity_g } : e);
  };
  let truncated = false;
  const upstreamSupplies = new Map<string, EdgeRow[]>();
  {
    let frontier: TradeRefRow[] = [root];
    const seen = new Set([key(root.platform, root.trade_id)]);
    for (let depth = 1; frontier.length > 0 && depth <= ORIGINS_DEPTH; depth++) {
      const found = await edgesIntoSales(db, frontier);
      const next: TradeRefRow[] = [];
      for (const e of found) {
        const saleKey = key(e.sale_platform, e.sale_trade_id);
        const bySale = supplyKey(e.sale_platform, e.sale_trade_id, e.material);
        const list = upstreamSupplies.get(bySale) ?? [];
        if (list.length === 0) upstreamSupplies.set(bySale, list);
        list.push(e);
        const pk = key(e.purchase_platform, e.purchase_trade_id);
        if (opts.direction !== 'downstream') {
          if (depth <= opts.maxDepth) {
            addEdge(`${pk}>${saleKey}>${e.basis}`, e);
            if (!depthOf.has(pk)) depthOf.set(pk, -depth);
            refs.set(pk, { platform: e.purchase_platform, trade_id: e.purchase_trade_id });
          } else truncated = true;
        }
        if (!seen.has(pk)) {
          seen.add(pk);
          next.push({ platform: e.purchase_platform, trade_id: e.purchase_trade_id });
          refs.set(pk, refs.get(pk) ?? { platform: e.purchase_platform, trade_id: e.purchase_trade_id });
        }
      }
      frontier = next;
    }
  }
  if (opts.direction !== 'upstream') {
    let frontier: TradeRefRow[] = [root];
    const seen = new Set([key(root.platform, root.trade_id)]);
    for (let depth = 1; frontier.length > 0; depth++) {
      const found = await edgesFromPurchases(db, frontier);
      if (depth > opts.maxDepth) {
        if (found.length > 0) truncated = true;
        break;
      }
      const next: TradeRefRow[] = [];
      for (const e of found) {
        const sk = key(e.sale_platform, e.sale_trade_id);
        addEdge(`${key(e.purchase_platform, e.purchase_trade_id)}>${sk}>${e.basis}`, e);
        if (!depthOf.has(sk)) depthOf.set(sk, depth);
        if (!seen.has(sk)) {
          seen.add(sk);
          const ref = { platform: e.sale_platform, trade_id: e.sale_trade_id };
          refs.set(sk, ref);
          next.push(ref);
        }
      }
      frontier = next;
    }
  }
  const trades = await loadChainTrades(db, [...refs.values()]);
  const byKey = new Map(trades.map((t) => [key(t.platform, t.trade_id), t]));
  const rootRow = byKey.get(key(root.platform, root.trade_id))!;
  const origins = chainOrigins(root, byKey, upstreamSupplies);
  const nodes = [...depthOf].flatMap(([k, depth]) => {
    const t = byKey.get(k);
    if (!t) return [];
    return [
      {
        id: t.id.toString(),
        platform: t.platform,
        trade_id: t.trade_id,
        seller: { key: t.seller_key, name: t.seller_name, kind: t.seller_kind, division: t.seller_division },
        buyer: { key: t.buyer_key, name: t.buyer_name, kind: 'enterprise', division: t.buyer_division },
        material: t.materials.join(','),
        quantity_kg: formatKg(t.quantity_g),
        amount: formatMoney(t.total_fen),
        occurred_at: t.occurred_at.toISOString(),
        depth: Math.abs(depth),
        side: (depth === 0 ? 'root' : depth < 0 ? 'upstream' : 'downstream') as
          | 'root'
          | 'upstream'
          | 'downstream',
        status: t.status,
      },
    ];
  });
  const idOf = (platform: string, tradeId: string) => byKey.get(key(platform, tradeId))?.id.toString();
  const chainEdges = [...edges.values()].flatMap((e) => {
    const from = idOf(e.purchase_platform, e.purchase_trade_id);
    const to = idOf(e.sale_platform, e.sale_trade_id);
    return from && to ? [{ from, to, quantity_kg: formatKg(e.quantity_g), basis: e.basis }] : [];
  });
  return {
    root: rootRow.id.toString(),
    nodes,
    edges: chainEdges,
    origins: formatOrigins(origins),
    truncated: truncated || (origins.truncated && opts.direction !== 'downstream'),
  };
}

/** Order-free form: nodes by id, edges by (to, from, basis). */
function canonical(c: Chain) {
  return {
    ...c,
    nodes: [...c.nodes].sort((a, b) => Number(a.id) - Number(b.id)),
    edges: [...c.edges].sort((a, b) =>
      `${a.to}|${a.from}|${a.basis}` < `${b.to}|${b.from}|${b.basis}` ? -1 : 1,
    ),
  };
}

/** Deterministic pseudo-random numbers (mulberry32), so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DIVISIONS = ['440703', '440704', '440705', '440781'];

/** A random graph of `n` trades on platform `pf`: chains with forks, joins and a few back edges. */
async function makeGraph(db: Db, pf: string, seed: number, n: number): Promise<TradeRefRow[]> {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const parties = Array.from({ length: 12 }, (_, i) => ({
    party_key: `${pf}-P${i}`,
    kind: i < 3 ? 'natural_person' : 'enterprise',
    name: `party ${i}`,
    division: pick(DIVISIONS),
    roles: i < 3 ? [] : [pick(['recycler', 'sorting_center', 'generator', 'utilizer'])],
  }));
  await db.insertInto('parties').values(parties).execute();
  const trades = Array.from({ length: n }, (_, i) => {
    const seller = pick(parties);
    const buyer = pick(parties.slice(3));
    const g = BigInt(1000 + Math.floor(rnd() * 9000)) * 1000n;
    return {
      platform: pf,
      trade_id: `T${i}`,
      version: 1,
      status: 'active',
      occurred_at: new Date(Date.UTC(2026, 9, 1) + i * 60_000),
      seller_key: seller.party_key,
      buyer_key: buyer.party_key,
      seller_kind: seller.kind,
      seller_division: seller.division,
      buyer_division: buyer.division,
      site_code: 'S1',
      site_division: buyer.division,
      total_fen: g / 10n,
      quantity_g: g,
      materials: ['FE_HEAVY'],
      tax_treatment: 'simple_3',
      lines: JSON.stringify([{ material: 'FE_HEAVY', quantity_g: g.toString(), unit: 'kg' }]),
    };
  });
  await db.insertInto('trades').values(trades).execute();
  // Each trade i > 0 is supplied by 0–3 earlier trades (forks and joins), and now and then by a
  // later one (a cycle); some edges exist with both bases.
  const allocations: Record<string, unknown>[] = [];
  const results: Record<string, unknown>[] = [];
  for (let i = 1; i < n; i++) {
    const supplies = new Set<number>();
    const k = Math.floor(rnd() * 4);
    for (let j = 0; j < k; j++) supplies.add(Math.max(0, i - 1 - Math.floor(rnd() * 6)));
    if (rnd() < 0.08) supplies.add(Math.min(n - 1, i + 1 + Math.floor(rnd() * 5)));
    supplies.delete(i);
    for (const s of supplies) {
      for (const basis of rnd() < 0.2 ? ['declared', 'fifo'] : [pick(['declared', 'fifo'])]) {
        allocations.push({
          party_key: trades[i]!.seller_key,
          material: 'FE_HEAVY',
          sale_platform: pf,
          sale_trade_id: `T${i}`,
          purchase_platform: pf,
          purchase_trade_id: `T${s}`,
          basis,
          quantity_g: BigInt(1 + Math.floor(rnd() * 2000)) * 1000n,
          sale_at: trades[i]!.occurred_at,
        });
      }
    }
    if (rnd() < 0.3) {
      results.push({
        party_key: trades[i]!.seller_key,
        material: 'FE_HEAVY',
        platform: pf,
        trade_id: `T${i}`,
        sale_at: trades[i]!.occurred_at,
        quantity_g: trades[i]!.quantity_g,
        unsourced_g: BigInt(Math.floor(rnd() * 500)) * 1000n,
      });
    }
  }
  if (allocations.length > 0)
    await db
      .insertInto('allocations')
      .values(allocations as never)
      .execute();
  if (results.length > 0)
    await db
      .insertInto('sale_results')
      .values(results as never)
      .execute();
  return trades.map((t) => ({ platform: t.platform, trade_id: t.trade_id }));
}

const graphs: TradeRefRow[][] = [];

beforeAll(async () => {
  ctx = await createTestContext();
  // Long thin graphs (deeper than ORIGINS_DEPTH) and short dense ones.
  graphs.push(await makeGraph(ctx.rt.db, 'gA', 1, 60));
  graphs.push(await makeGraph(ctx.rt.db, 'gB', 2, 40));
  graphs.push(await makeGraph(ctx.rt.db, 'gC', 3, 120));
  await sql`ANALYZE allocations`.execute(ctx.rt.db);
});

describe('buildChain: the recursive walk equals the level-by-level walk', () => {
  it('on random graphs with cycles, for every direction and several depths', async () => {
    let compared = 0;
    let withCycles = 0;
    let truncated = 0;
    for (const [g, refs] of graphs.entries()) {
      const rnd = prng(100 + g);
      const roots = [refs[refs.length - 1]!, refs[0]!, ...refs.filter(() => rnd() < 0.1)];
      for (const root of roots) {
        for (const direction of ['upstream', 'downstream', 'both'] as const) {
          for (const maxDepth of [1, 3, 10, 20]) {
            const opts = { direction, maxDepth };
            const got = await buildChain(ctx.rt.db, root, opts);
            const want = await buildChainLevelByLevel(ctx.rt.db, root, opts);
            expect(canonical(got), `${root.platform}:${root.trade_id} ${direction} ${maxDepth}`).toEqual(
              canonical(want),
            );
            compared++;
            if (got.truncated) truncated++;
            if (got.edges.some((e) => Number(e.from) > Number(e.to))) withCycles++;
          }
        }
      }
    }
    // The graphs did exercise cycles (an edge from a later trade) and the depth bound.
    expect(compared).toBeGreaterThan(300);
    expect(withCycles).toBeGreaterThan(10);
    expect(truncated).toBeGreaterThan(10);
  });

  it('an unknown root throws, like before', async () => {
    await expect(
      buildChain(ctx.rt.db, { platform: 'gA', trade_id: 'nope' }, { direction: 'both', maxDepth: 10 }),
    ).rejects.toThrow(/not found/);
  });
});
