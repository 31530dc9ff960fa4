import { sql } from 'kysely';
import type { Db } from '../db/database';
import {
  allocateStream,
  type OpeningState,
  refKey,
  type Sale,
  type StreamEntry,
  StreamInputError,
  type StreamResult,
  type TradeRef,
} from '../domain/allocation';
import type { Logger } from '../log';
import { markPeriodsDirty } from '../repositories/anomalies.repository';
import { periodsAffected } from '../rules/periods';
import { type StreamKey, streamKeyString } from './context';
import { lockKeys } from './locks';

export interface AllocateResult {
  rounds: number;
  salesAllocated: number;
  clean: boolean;
  /** Periods marked for rule evaluation (stock and chain rules read allocations). */
  periods: { period: string; generation: bigint }[];
}

const MAX_ROUNDS = 20;

/**
 * Re-allocates one (party, material) stream from its dirty point in time onward (DOMAIN.md
 * section 6): sales before that point keep their stored allocations, which give the opening
 * remainders of the purchases; sales from it on are allocated again. The stream is locked, so
 * several workers never allocate it at once; the dirty mark is cleared only if no newer change
 * arrived meanwhile (its generation is unchanged), otherwise another round runs.
 */
export async function allocateDirtyStream(db: Db, stream: StreamKey, log?: Logger): Promise<AllocateResult> {
  let sales = 0;
  const periods: { period: string; generation: bigint }[] = [];
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    const outcome = await db.transaction().execute(async (trx) => {
      await lockKeys(trx, 'stream', [streamKeyString(stream)]);
      const mark = await trx
        .selectFrom('stream_dirty')
        .select(['dirty_from', 'generation'])
        .where('party_key', '=', stream.partyKey)
        .where('material', '=', stream.material)
        .executeTakeFirst();
      if (!mark) return { done: true, sales: 0 };
      const n = await reallocateFrom(trx, stream, mark.dirty_from as Date, log);
      // The stream's mark first, the periods' marks after: event processing takes them in the same
      // order (stream_dirty, then rule_dirty_periods), so the two can never wait on each other.
      const cleared = await trx
        .deleteFrom('stream_dirty')
        .where('party_key', '=', stream.partyKey)
        .where('material', '=', stream.material)
        .where('generation', '=', mark.generation)
        .executeTakeFirst();
      const clock = await trx
        .selectFrom('platform_clocks')
        .select((eb) => eb.fn.max('data_clock').as('c'))
        .executeTakeFirst();
      const clockMs = clock?.c ? (clock.c as Date).getTime() : null;
      periods.push(
        ...(await markPeriodsDirty(trx, periodsAffected([(mark.dirty_from as Date).getTime()], clockMs))),
      );
      return { done: cleared.numDeletedRows > 0n, sales: n };
    });
    sales += outcome.sales;
    if (outcome.done) return { rounds: round, salesAllocated: sales, clean: true, periods };
  }
  return { rounds: MAX_ROUNDS, salesAllocated: sales, clean: false, periods };
}

type ClaimJson = {
  platform: string;
  trade_id: string;
  quantity_g: string;
};

/** Where a full re-allocation starts: the beginning of the calendar PostgreSQL can store. */
const BEGINNING = new Date('0001-01-01T00:00:00Z');

/**
 * Re-allocates the stream from `from` on, incrementally; if the stored state before that point
 * no longer fits the entries (which the invariants rule out, but a bug or a hand edit could
 * cause), from the beginning.
 */
async function reallocateFrom(db: Db, stream: StreamKey, from: Date, log?: Logger): Promise<number> {
  try {
    return await reallocate(db, stream, from);
  } catch (err) {
    if (!(err instanceof StreamInputError)) throw err;
    log?.warn(
      { party: stream.partyKey, material: stream.material, err: err.message },
      'stored allocation state inconsistent; full re-allocation',
    );
    return await reallocate(db, stream, null);
  }
}

/**
 * One re-allocation from `from` (null: from the beginning). It reads only what the cut needs:
 * - the stream's entries at or after the cut (sales to allocate, purchases that start full);
 * - per purchase, the grams the stored allocations of those sales took (they are replaced);
 * - the purchases before the cut that hold stock at the cut: `purchase_remainders` keeps what no
 *   stored allocation has taken, so the stock at the cut is that remainder plus what the sales
 *   from the cut took. Those with a remainder, those the sales drew on and those the sales claim
 *   (a claim on an exhausted purchase is still judged against it) are all that allocateStream
 *   needs: FIFO skips exhausted purchases, and a subset keeps the purchases' relative order.
 * Then it writes only what changed (allocations, sale results, remainders). All checks happen
 * before the first write, so a StreamInputError leaves nothing half-written.
 */
async function reallocate(db: Db, stream: StreamKey, from: Date | null): Promise<number> {
  const cut = from ?? BEGINNING;
  const cutMs = cut.getTime();
  const { partyKey, material } = stream;
  const entries = await db
    .selectFrom('stream_entries')
    .select(['role', 'platform', 'trade_id', 'occurred_at', 'quantity_g', 'claims'])
    .where('party_key', '=', partyKey)
    .where('material', '=', material)
    .where('occurred_at', '>=', cut)
    .execute();
  const purchases: StreamEntry[] = [];
  const sales: Sale[] = [];
  for (const e of entries) {
    const ref = { platform: e.platform, tradeId: e.trade_id };
    const atMs = (e.occurred_at as Date).getTime();
    if (e.role === 'purchase') purchases.push({ ref, atMs, quantityG: e.quantity_g });
    else {
      const claims = (e.claims as ClaimJson[]).map((c) => ({
        upstream: { platform: c.platform, tradeId: c.trade_id },
        quantityG: BigInt(c.quantity_g),
      }));
      sales.push({ ref, atMs, quantityG: e.quantity_g, claims });
    }
  }

  let opening: OpeningState | undefined;
  if (from) {
    const taken = await db
      .selectFrom('allocations')
      .select(['purchase_platform', 'purchase_trade_id', (eb) => eb.fn.sum<bigint>('quantity_g').as('g')])
      .where('party_key', '=', partyKey)
      .where('material', '=', material)
      .where('sale_at', '>=', cut)
      .groupBy(['purchase_platform', 'purchase_trade_id'])
      .execute();
    const takenG = new Map(
      taken.map((t) => [
        refKey({ platform: t.purchase_platform, tradeId: t.purchase_trade_id }),
        BigInt(t.g),
      ]),
    );
    const wanted = new Map<string, TradeRef>();
    for (const t of taken) {
      const ref = { platform: t.purchase_platform, tradeId: t.purchase_trade_id };
      wanted.set(refKey(ref), ref);
    }
    for (const s of sales) for (const c of s.claims) wanted.set(refKey(c.upstream), c.upstream);
    const refs = [...wanted.values()];
    // A UNION of two index scans: the open purchases, and the named ones (raw SQL for the unnest
    // join, which the builder cannot say).
    const before = await sql<{
      platform: string;
      trade_id: string;
      occurred_at: Date;
      quantity_g: bigint;
      remaining_g: bigint;
    }>`
      SELECT platform, trade_id, occurred_at, quantity_g, remaining_g FROM purchase_remainders
      WHERE party_key = ${partyKey} AND material = ${material} AND occurred_at < ${cut} AND remaining_g > 0
      UNION
      SELECT r.platform, r.trade_id, r.occurred_at, r.quantity_g, r.remaining_g
      FROM purchase_remainders r
      JOIN unnest(${refs.map((r) => r.platform)}::text[], ${refs.map((r) => r.tradeId)}::text[]) AS k(platform, trade_id)
        ON r.platform = k.platform AND r.trade_id = k.trade_id
      WHERE r.party_key = ${partyKey} AND r.material = ${material} AND r.occurred_at < ${cut}`.execute(db);
    const remainingG = new Map<string, bigint>();
    for (const p of before.rows) {
      const ref = { platform: p.platform, tradeId: p.trade_id };
      const key = refKey(ref);
      purchases.push({ ref, atMs: p.occurred_at.getTime(), quantityG: p.quantity_g });
      // Validated by allocateStream: at most the purchase's quantity, never negative.
      remainingG.set(key, p.remaining_g + (takenG.get(key) ?? 0n));
    }
    opening = { cut: { atMs: cutMs, ref: { platform: '', tradeId: '' } }, remainingG };
  }
  const result = allocateStream(purchases, sales, opening);
  await writeAllocations(db, stream, cut, purchases, sales, result);
  return sales.length;
}

/**
 * Brings the stored allocations, sale results and purchase remainders from the cut on to
 * `result`: rows from the cut on that are no longer produced are deleted, new or changed ones
 * upserted, unchanged ones left alone. (Each statement deletes keys absent from the new rows and
 * upserts the new rows: the two never touch the same row. Raw SQL for the unnest inputs.)
 */
async function writeAllocations(
  db: Db,
  stream: StreamKey,
  cut: Date,
  purchases: readonly StreamEntry[],
  sales: readonly Sale[],
  result: StreamResult,
): Promise<void> {
  const { partyKey, material } = stream;
  const saleAt = new Map(sales.map((s) => [refKey(s.ref), new Date(s.atMs).toISOString()]));
  // Declared and FIFO parts from one purchase are separate rows (basis is part of the key).
  const a = result.allocations;
  await sql`
    WITH n AS (
      SELECT * FROM unnest(${a.map((x) => x.sale.platform)}::text[], ${a.map((x) => x.sale.tradeId)}::text[],
        ${a.map((x) => x.purchase.platform)}::text[], ${a.map((x) => x.purchase.tradeId)}::text[],
        ${a.map((x) => x.basis)}::text[], ${a.map((x) => x.quantityG.toString())}::int8[],
        ${a.map((x) => saleAt.get(refKey(x.sale))!)}::timestamptz[])
        AS n(sale_platform, sale_trade_id, purchase_platform, purchase_trade_id, basis, quantity_g, sale_at)
    ), gone AS (
      DELETE FROM allocations o
      WHERE o.party_key = ${partyKey} AND o.material = ${material} AND o.sale_at >= ${cut}
        AND NOT EXISTS (SELECT 1 FROM n WHERE n.sale_platform = o.sale_platform AND n.sale_trade_id = o.sale_trade_id
          AND n.purchase_platform = o.purchase_platform AND n.purchase_trade_id = o.purchase_trade_id AND n.basis = o.basis)
    )
    INSERT INTO allocations AS o (party_key, material, sale_platform, sale_trade_id, purchase_platform,
      purchase_trade_id, basis, quantity_g, sale_at)
    SELECT ${partyKey}, ${material}, n.* FROM n
    ON CONFLICT (party_key, material, sale_platform, sale_trade_id, purchase_platform, purchase_trade_id, basis)
    DO UPDATE SET quantity_g = excluded.quantity_g, sale_at = excluded.sale_at
    WHERE o.quantity_g <> excluded.quantity_g OR o.sale_at <> excluded.sale_at`.execute(db);

  const unsourced = new Map(result.unsourced.map((u) => [refKey(u.sale), u.quantityG]));
  const discrepancies = new Map<string, unknown[]>();
  for (const d of result.discrepancies) {
    const k = refKey(d.sale);
    const list = discrepancies.get(k) ?? [];
    if (list.length === 0) discrepancies.set(k, list);
    list.push({
      upstream: d.upstream,
      claimed_g: d.claimedG.toString(),
      granted_g: d.grantedG.toString(),
      reason: d.reason,
    });
  }
  await sql`
    WITH n AS (
      SELECT * FROM unnest(${sales.map((s) => s.ref.platform)}::text[], ${sales.map((s) => s.ref.tradeId)}::text[],
        ${sales.map((s) => saleAt.get(refKey(s.ref))!)}::timestamptz[], ${sales.map((s) => s.quantityG.toString())}::int8[],
        ${sales.map((s) => (unsourced.get(refKey(s.ref)) ?? 0n).toString())}::int8[],
        ${sales.map((s) => JSON.stringify(discrepancies.get(refKey(s.ref)) ?? []))}::jsonb[])
        AS n(platform, trade_id, sale_at, quantity_g, unsourced_g, discrepancies)
    ), gone AS (
      DELETE FROM sale_results o
      WHERE o.party_key = ${partyKey} AND o.material = ${material} AND o.sale_at >= ${cut}
        AND NOT EXISTS (SELECT 1 FROM n WHERE n.platform = o.platform AND n.trade_id = o.trade_id)
    )
    INSERT INTO sale_results AS o (party_key, material, platform, trade_id, sale_at, quantity_g, unsourced_g, discrepancies)
    SELECT ${partyKey}, ${material}, n.* FROM n
    ON CONFLICT (party_key, material, platform, trade_id) DO UPDATE SET sale_at = excluded.sale_at,
      quantity_g = excluded.quantity_g, unsourced_g = excluded.unsourced_g, discrepancies = excluded.discrepancies
    WHERE (o.sale_at, o.quantity_g, o.unsourced_g, o.discrepancies)
      IS DISTINCT FROM (excluded.sale_at, excluded.quantity_g, excluded.unsourced_g, excluded.discrepancies)`.execute(
    db,
  );

  // Remainders: every purchase allocateStream saw (all those from the cut on, and those before
  // it that hold stock or were named); before the cut, unchanged ones are left alone.
  const r = result.remaining;
  const purchaseAt = new Map(purchases.map((p) => [refKey(p.ref), p]));
  await sql`
    WITH n AS (
      SELECT * FROM unnest(${r.map((x) => x.purchase.platform)}::text[], ${r.map((x) => x.purchase.tradeId)}::text[],
        ${r.map((x) => new Date(purchaseAt.get(refKey(x.purchase))!.atMs).toISOString())}::timestamptz[],
        ${r.map((x) => purchaseAt.get(refKey(x.purchase))!.quantityG.toString())}::int8[],
        ${r.map((x) => x.quantityG.toString())}::int8[])
        AS n(platform, trade_id, occurred_at, quantity_g, remaining_g)
    ), gone AS (
      DELETE FROM purchase_remainders o
      WHERE o.party_key = ${partyKey} AND o.material = ${material} AND o.occurred_at >= ${cut}
        AND NOT EXISTS (SELECT 1 FROM n WHERE n.platform = o.platform AND n.trade_id = o.trade_id)
    )
    INSERT INTO purchase_remainders AS o (party_key, material, platform, trade_id, occurred_at, quantity_g, remaining_g)
    SELECT ${partyKey}, ${material}, n.* FROM n
    ON CONFLICT (party_key, material, platform, trade_id) DO UPDATE SET occurred_at = excluded.occurred_at,
      quantity_g = excluded.quantity_g, remaining_g = excluded.remaining_g
    WHERE (o.occurred_at, o.quantity_g, o.remaining_g)
      IS DISTINCT FROM (excluded.occurred_at, excluded.quantity_g, excluded.remaining_g)`.execute(db);
}

/** Dirty streams the queue may have lost: marked longer ago than `minAgeSeconds`. */
export async function findStaleDirtyStreams(db: Db, minAgeSeconds: number, limit: number) {
  const rows = await db
    .selectFrom('stream_dirty')
    .select(['party_key', 'material', 'generation'])
    .where('marked_at', '<', sql<Date>`now() - make_interval(secs => ${minAgeSeconds})`)
    .orderBy('marked_at')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ partyKey: r.party_key, material: r.material, generation: r.generation }));
}
