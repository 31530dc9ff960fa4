import { sql } from 'kysely';
import type { Db } from '../db/database';
import {
  allocateStream,
  type OpeningState,
  openingStateAt,
  refKey,
  type Sale,
  type StreamEntry,
  StreamInputError,
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

async function reallocateFrom(db: Db, stream: StreamKey, from: Date, log?: Logger): Promise<number> {
  const entries = await db
    .selectFrom('stream_entries')
    .select(['role', 'platform', 'trade_id', 'occurred_at', 'quantity_g', 'claims'])
    .where('party_key', '=', stream.partyKey)
    .where('material', '=', stream.material)
    .execute();
  const purchases: StreamEntry[] = [];
  const sales: Sale[] = [];
  for (const e of entries) {
    const ref = { platform: e.platform, tradeId: e.trade_id };
    const atMs = (e.occurred_at as Date).getTime();
    if (e.role === 'purchase') purchases.push({ ref, atMs, quantityG: e.quantity_g });
    else {
      const claims = (e.claims as { platform: string; trade_id: string; quantity_g: string }[]).map((c) => ({
        upstream: { platform: c.platform, tradeId: c.trade_id },
        quantityG: BigInt(c.quantity_g),
      }));
      sales.push({ ref, atMs, quantityG: e.quantity_g, claims });
    }
  }

  let cutMs = from.getTime();
  let opening: OpeningState | undefined;
  try {
    const prior = await db
      .selectFrom('allocations')
      .select(['purchase_platform', 'purchase_trade_id', (eb) => eb.fn.sum<bigint>('quantity_g').as('g')])
      .where('party_key', '=', stream.partyKey)
      .where('material', '=', stream.material)
      .where('sale_at', '<', from)
      .groupBy(['purchase_platform', 'purchase_trade_id'])
      .execute();
    opening = openingStateAt(
      purchases,
      {
        allocations: prior.map((p) => ({
          purchase: { platform: p.purchase_platform, tradeId: p.purchase_trade_id },
          quantityG: BigInt(p.g),
        })),
      },
      { atMs: cutMs, ref: { platform: '', tradeId: '' } },
    );
  } catch (err) {
    if (!(err instanceof StreamInputError)) throw err;
    // The stored allocations before the cut no longer fit: start the stream over.
    log?.warn(
      { party: stream.partyKey, material: stream.material, err: err.message },
      'stored allocations inconsistent; full re-allocation',
    );
    cutMs = Number.MIN_SAFE_INTEGER;
    opening = undefined;
  }
  const later = sales.filter((s) => s.atMs >= cutMs);
  const result = allocateStream(purchases, later, opening);

  // A full re-allocation deletes from the beginning of the calendar PostgreSQL can store.
  const cut = cutMs === Number.MIN_SAFE_INTEGER ? new Date('0001-01-01T00:00:00Z') : new Date(cutMs);
  await db
    .deleteFrom('allocations')
    .where('party_key', '=', stream.partyKey)
    .where('material', '=', stream.material)
    .where('sale_at', '>=', cut)
    .execute();
  await db
    .deleteFrom('sale_results')
    .where('party_key', '=', stream.partyKey)
    .where('material', '=', stream.material)
    .where('sale_at', '>=', cut)
    .execute();
  const saleAt = new Map(later.map((s) => [refKey(s.ref), new Date(s.atMs)]));
  if (result.allocations.length > 0) {
    // Declared and FIFO parts from one purchase are separate rows (basis is part of the key).
    await db
      .insertInto('allocations')
      .values(
        result.allocations.map((a) => ({
          party_key: stream.partyKey,
          material: stream.material,
          sale_platform: a.sale.platform,
          sale_trade_id: a.sale.tradeId,
          purchase_platform: a.purchase.platform,
          purchase_trade_id: a.purchase.tradeId,
          basis: a.basis,
          quantity_g: a.quantityG,
          sale_at: saleAt.get(refKey(a.sale))!,
        })),
      )
      .execute();
  }
  if (later.length > 0) {
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
    await db
      .insertInto('sale_results')
      .values(
        later.map((s) => ({
          party_key: stream.partyKey,
          material: stream.material,
          platform: s.ref.platform,
          trade_id: s.ref.tradeId,
          sale_at: new Date(s.atMs),
          quantity_g: s.quantityG,
          unsourced_g: unsourced.get(refKey(s.ref)) ?? 0n,
          discrepancies: JSON.stringify(discrepancies.get(refKey(s.ref)) ?? []),
        })),
      )
      .execute();
  }
  return later.length;
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
