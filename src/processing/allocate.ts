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
  /** The job's own stream is clean (streams taken along may still be dirty: their own jobs run). */
  clean: boolean;
  /** Streams allocated, the job's own and those taken along. */
  streams: number;
  /** Periods marked for rule evaluation (stock and chain rules read allocations). */
  periods: { period: string; generation: bigint }[];
}

const MAX_ROUNDS = 20;

/** Streams one transaction allocates at most: the job's own and others taken along. */
export const DEFAULT_STREAMS_PER_TRANSACTION = 16;

interface Mark extends StreamKey {
  from: Date;
  generation: bigint;
}

/**
 * Re-allocates one (party, material) stream from its dirty point in time onward: see
 * `allocateDirtyStreams`, of which this is the one-stream case.
 */
export function allocateDirtyStream(
  db: Db,
  stream: StreamKey,
  log?: Logger,
  opts: { streamsPerTransaction?: number } = {},
): Promise<AllocateResult> {
  return allocateDirtyStreams(db, [stream], log, opts);
}

/**
 * Re-allocates (party, material) streams from their dirty points in time onward (DOMAIN.md
 * section 6): sales before that point keep their stored allocations; sales from it on are
 * allocated again, starting from the purchases' remainders at that point. The streams are locked,
 * so several workers never allocate one at once; a dirty mark is cleared only if no newer change
 * arrived meanwhile (its generation is unchanged), otherwise another round runs, until every
 * stream given is clean (or MAX_ROUNDS).
 *
 * A transaction costs about the same for one stream as for many (a few statements over all of
 * them), so it also takes along other dirty streams whose lock is free, up to
 * `streamsPerTransaction` streams in all (a try-lock never waits, so the lock order cannot
 * deadlock: the given streams' locks are taken first, in one sorted pass). Their own jobs then
 * find them clean and return at once; if a newer change arrived meanwhile, their mark stays and
 * their job allocates them again.
 */
export async function allocateDirtyStreams(
  db: Db,
  given: readonly StreamKey[],
  log?: Logger,
  opts: { streamsPerTransaction?: number } = {},
): Promise<AllocateResult> {
  let sales = 0;
  let streams = 0;
  const periods: { period: string; generation: bigint }[] = [];
  // Most jobs of busy streams find them already done (by an earlier job or taken along): one
  // cheap look, without a transaction or a lock.
  let dirty = await stillDirty(db, given);
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    if (dirty.length === 0)
      return { rounds: round - 1, salesAllocated: sales, clean: true, streams, periods };
    const own = dirty;
    const takeAlong = Math.max(0, (opts.streamsPerTransaction ?? 1) - own.length);
    const outcome = await db.transaction().execute(async (trx) => {
      await lockKeys(trx, 'stream', own.map(streamKeyString));
      const others = takeAlong > 0 ? await lockOtherDirtyStreams(trx, own, takeAlong) : [];
      // Marks are read only once their streams are locked: no other worker can then clear them,
      // and event processing only moves them earlier with a new generation.
      const marks = await readMarks(trx, [...own, ...others]);
      const ownKeys = new Set(own.map(streamKeyString));
      // Own streams without a mark were cleaned by another worker since the look.
      const ownMarked = marks.filter((m) => ownKeys.has(streamKeyString(m)));
      if (ownMarked.length === 0) return { left: [], sales: 0, streams: 0 };
      const n = await reallocateMarked(trx, marks, log);
      // The streams' marks first, the periods' marks after: event processing takes them in the
      // same order (stream_dirty, then rule_dirty_periods), so the two can never wait on each other.
      const cleared = await clearMarks(trx, marks);
      const clock = await trx
        .selectFrom('platform_clocks')
        .select((eb) => eb.fn.max('data_clock').as('c'))
        .executeTakeFirst();
      const clockMs = clock?.c ? (clock.c as Date).getTime() : null;
      periods.push(
        ...(await markPeriodsDirty(
          trx,
          periodsAffected(
            marks.map((m) => m.from.getTime()),
            clockMs,
          ),
        )),
      );
      // Own streams whose mark changed meanwhile (a newer generation) need another round.
      const left = ownMarked
        .filter((m) => !cleared.has(streamKeyString(m)))
        .map((m) => ({ partyKey: m.partyKey, material: m.material }));
      return { left, sales: n, streams: marks.length };
    });
    sales += outcome.sales;
    streams += outcome.streams;
    dirty = outcome.left;
  }
  return { rounds: MAX_ROUNDS, salesAllocated: sales, clean: dirty.length === 0, streams, periods };
}

/** The given streams that have a dirty mark, in the order given (duplicates dropped). */
async function stillDirty(db: Db, streams: readonly StreamKey[]): Promise<StreamKey[]> {
  const unique = [...new Map(streams.map((s) => [streamKeyString(s), s])).values()];
  if (unique.length === 0) return [];
  const r = await sql<{ party_key: string; material: string }>`
    SELECT d.party_key, d.material
    FROM stream_dirty d JOIN unnest(${unique.map((s) => s.partyKey)}::text[], ${unique.map((s) => s.material)}::text[])
      AS k(party_key, material) ON d.party_key = k.party_key AND d.material = k.material`.execute(db);
  const found = new Set(r.rows.map((x) => streamKeyString({ partyKey: x.party_key, material: x.material })));
  return unique.filter((s) => found.has(streamKeyString(s)));
}

/**
 * Try-locks up to `limit` other dirty streams (not among `own`), oldest marks first, and returns
 * those it got. The lock key is the one lockKeys derives ('stream:' + streamKeyString). The outer
 * LIMIT stops the try-locks once enough are held (raw SQL: the builder cannot say a locking
 * function in a filter).
 */
async function lockOtherDirtyStreams(db: Db, own: readonly StreamKey[], limit: number): Promise<StreamKey[]> {
  const r = await sql<{ party_key: string; material: string }>`
    SELECT party_key, material FROM (
      SELECT d.party_key, d.material FROM stream_dirty d
      WHERE NOT EXISTS (
        SELECT 1 FROM unnest(${own.map((s) => s.partyKey)}::text[], ${own.map((s) => s.material)}::text[])
          AS o(party_key, material)
        WHERE o.party_key = d.party_key AND o.material = d.material)
      ORDER BY d.marked_at LIMIT ${limit * 2}) AS c
    WHERE pg_try_advisory_xact_lock(hashtextextended('stream:' || party_key || chr(31) || material, 0))
    LIMIT ${limit}`.execute(db);
  return r.rows.map((x) => ({ partyKey: x.party_key, material: x.material }));
}

async function readMarks(db: Db, streams: readonly StreamKey[]): Promise<Mark[]> {
  const r = await sql<{ party_key: string; material: string; dirty_from: Date; generation: bigint }>`
    SELECT d.party_key, d.material, d.dirty_from, d.generation
    FROM stream_dirty d JOIN unnest(${streams.map((s) => s.partyKey)}::text[], ${streams.map((s) => s.material)}::text[])
      AS k(party_key, material) ON d.party_key = k.party_key AND d.material = k.material`.execute(db);
  return r.rows.map((m) => ({
    partyKey: m.party_key,
    material: m.material,
    from: m.dirty_from,
    generation: m.generation,
  }));
}

/**
 * Deletes the marks whose generation is still the one allocated; returns the streams cleared.
 * The rows are locked in ascending key order first, the order in which event processing upserts
 * them (markStreamsDirty sorts by streamKeyString; keys are ASCII, so "C" collation agrees), so
 * the two never wait on each other in a cycle.
 */
async function clearMarks(db: Db, marks: readonly Mark[]): Promise<Set<string>> {
  const r = await sql<{ party_key: string; material: string }>`
    WITH k AS (
      SELECT * FROM unnest(${marks.map((m) => m.partyKey)}::text[], ${marks.map((m) => m.material)}::text[],
        ${marks.map((m) => m.generation.toString())}::int8[]) AS k(party_key, material, generation)
    ), l AS MATERIALIZED (
      SELECT d.party_key, d.material FROM stream_dirty d JOIN k ON d.party_key = k.party_key AND d.material = k.material
        AND d.generation = k.generation
      ORDER BY d.party_key COLLATE "C", d.material COLLATE "C"
      FOR UPDATE OF d
    )
    DELETE FROM stream_dirty d USING l, k
    WHERE d.party_key = l.party_key AND d.material = l.material
      AND d.party_key = k.party_key AND d.material = k.material AND d.generation = k.generation
    RETURNING d.party_key, d.material`.execute(db);
  return new Set(r.rows.map((x) => streamKeyString({ partyKey: x.party_key, material: x.material })));
}

type ClaimJson = {
  platform: string;
  trade_id: string;
  quantity_g: string;
};

/** Where a full re-allocation starts: the beginning of the calendar PostgreSQL can store. */
const BEGINNING = new Date('0001-01-01T00:00:00Z');

interface Job {
  stream: StreamKey;
  /** null: from the beginning, without an opening state. */
  from: Date | null;
}

interface Computed {
  stream: StreamKey;
  cut: Date;
  purchases: StreamEntry[];
  sales: Sale[];
  result: StreamResult;
}

/**
 * Re-allocates the marked streams from their dirty points, incrementally; a stream whose stored
 * state before that point no longer fits its entries (which the invariants rule out, but a bug or
 * a hand edit could cause) from the beginning. Returns the number of sales allocated.
 */
async function reallocateMarked(db: Db, marks: readonly Mark[], log?: Logger): Promise<number> {
  const done: Computed[] = [];
  let jobs: Job[] = marks.map((m) => ({
    stream: { partyKey: m.partyKey, material: m.material },
    from: m.from,
  }));
  while (jobs.length > 0) {
    const failed: Job[] = [];
    for (const c of await computeAllocations(db, jobs)) {
      if (c.result instanceof StreamInputError) {
        log?.warn(
          { party: c.job.stream.partyKey, material: c.job.stream.material, err: c.result.message },
          'stored allocation state inconsistent; full re-allocation',
        );
        failed.push({ stream: c.job.stream, from: null });
      } else done.push(c.result);
    }
    jobs = failed;
  }
  await writeAllocations(db, done);
  return done.reduce((n, c) => n + c.sales.length, 0);
}

/** The streams with their cuts as a table `s(party_key, material, cut)` to join against. */
const streamsTable = (jobs: readonly { stream: StreamKey; cut: Date }[]) =>
  sql`unnest(${jobs.map((j) => j.stream.partyKey)}::text[], ${jobs.map((j) => j.stream.material)}::text[],
    ${jobs.map((j) => j.cut.toISOString())}::timestamptz[]) AS s(party_key, material, cut)`;

/**
 * Reads what each stream's cut needs, for all the streams at once, and allocates them:
 * - the entries at or after the cut (sales to allocate, purchases that start full);
 * - per purchase, the grams the stored allocations of those sales took (they are replaced);
 * - the purchases before the cut that hold stock at the cut: `purchase_remainders` keeps what no
 *   stored allocation has taken, so the stock at the cut is that remainder plus what the sales
 *   from the cut took. Those with a remainder, those the sales drew on and those the sales claim
 *   (a claim on an exhausted purchase is still judged against it) are all that allocateStream
 *   needs: FIFO skips exhausted purchases, and a subset keeps the purchases' relative order.
 * Nothing is written here, so a stream that fails its checks can simply be read again in full.
 * (Raw SQL for the unnest joins, which the builder cannot say.)
 */
async function computeAllocations(
  db: Db,
  jobs: readonly Job[],
): Promise<{ job: Job; result: Computed | StreamInputError }[]> {
  const cuts = jobs.map((j) => ({ ...j, cut: j.from ?? BEGINNING }));
  const entries = await sql<{
    party_key: string;
    material: string;
    role: 'purchase' | 'sale';
    platform: string;
    trade_id: string;
    occurred_at: Date;
    quantity_g: bigint;
    claims: ClaimJson[];
  }>`
    SELECT e.party_key, e.material, e.role, e.platform, e.trade_id, e.occurred_at, e.quantity_g, e.claims
    FROM ${streamsTable(cuts)}
    JOIN stream_entries e ON e.party_key = s.party_key AND e.material = s.material AND e.occurred_at >= s.cut`.execute(
    db,
  );
  const byStream = new Map(
    cuts.map((j) => [
      streamKeyString(j.stream),
      {
        job: j as Job,
        cut: j.cut,
        purchases: [] as StreamEntry[],
        sales: [] as Sale[],
        taken: new Map<string, bigint>(),
        named: new Map<string, TradeRef>(),
        remainingG: new Map<string, bigint>(),
      },
    ]),
  );
  const of = (partyKey: string, material: string) => byStream.get(streamKeyString({ partyKey, material }))!;
  for (const e of entries.rows) {
    const s = of(e.party_key, e.material);
    const ref = { platform: e.platform, tradeId: e.trade_id };
    const atMs = e.occurred_at.getTime();
    if (e.role === 'purchase') s.purchases.push({ ref, atMs, quantityG: e.quantity_g });
    else {
      const claims = e.claims.map((c) => ({
        upstream: { platform: c.platform, tradeId: c.trade_id },
        quantityG: BigInt(c.quantity_g),
      }));
      s.sales.push({ ref, atMs, quantityG: e.quantity_g, claims });
      for (const c of claims) s.named.set(refKey(c.upstream), c.upstream);
    }
  }

  const incremental = cuts.filter((j) => j.from !== null);
  if (incremental.length > 0) {
    const streams = streamsTable(incremental);
    const taken = await sql<{
      party_key: string;
      material: string;
      purchase_platform: string;
      purchase_trade_id: string;
      g: bigint;
    }>`
      SELECT a.party_key, a.material, a.purchase_platform, a.purchase_trade_id, sum(a.quantity_g)::int8 AS g
      FROM ${streams}
      JOIN allocations a ON a.party_key = s.party_key AND a.material = s.material AND a.sale_at >= s.cut
      GROUP BY 1, 2, 3, 4`.execute(db);
    for (const t of taken.rows) {
      const s = of(t.party_key, t.material);
      const ref = { platform: t.purchase_platform, tradeId: t.purchase_trade_id };
      s.taken.set(refKey(ref), t.g);
      s.named.set(refKey(ref), ref);
    }
    const named = incremental.flatMap((j) =>
      [...of(j.stream.partyKey, j.stream.material).named.values()].map((ref) => ({ ...j, ref })),
    );
    const before = await sql<{
      party_key: string;
      material: string;
      platform: string;
      trade_id: string;
      occurred_at: Date;
      quantity_g: bigint;
      remaining_g: bigint;
    }>`
      SELECT r.party_key, r.material, r.platform, r.trade_id, r.occurred_at, r.quantity_g, r.remaining_g
      FROM ${streams}
      JOIN purchase_remainders r ON r.party_key = s.party_key AND r.material = s.material
        AND r.occurred_at < s.cut AND r.remaining_g > 0
      UNION
      SELECT r.party_key, r.material, r.platform, r.trade_id, r.occurred_at, r.quantity_g, r.remaining_g
      FROM unnest(${named.map((n) => n.stream.partyKey)}::text[], ${named.map((n) => n.stream.material)}::text[],
        ${named.map((n) => n.ref.platform)}::text[], ${named.map((n) => n.ref.tradeId)}::text[],
        ${named.map((n) => n.cut.toISOString())}::timestamptz[]) AS k(party_key, material, platform, trade_id, cut)
      JOIN purchase_remainders r ON r.party_key = k.party_key AND r.material = k.material
        AND r.platform = k.platform AND r.trade_id = k.trade_id AND r.occurred_at < k.cut`.execute(db);
    for (const p of before.rows) {
      const s = of(p.party_key, p.material);
      const ref = { platform: p.platform, tradeId: p.trade_id };
      const key = refKey(ref);
      s.purchases.push({ ref, atMs: p.occurred_at.getTime(), quantityG: p.quantity_g });
      // Validated by allocateStream: at most the purchase's quantity, never negative.
      s.remainingG.set(key, p.remaining_g + (s.taken.get(key) ?? 0n));
    }
  }

  return [...byStream.values()].map((s) => {
    const opening: OpeningState | undefined =
      s.job.from === null
        ? undefined
        : { cut: { atMs: s.cut.getTime(), ref: { platform: '', tradeId: '' } }, remainingG: s.remainingG };
    try {
      const result = allocateStream(s.purchases, s.sales, opening);
      return {
        job: s.job,
        result: { stream: s.job.stream, cut: s.cut, purchases: s.purchases, sales: s.sales, result },
      };
    } catch (err) {
      if (err instanceof StreamInputError) return { job: s.job, result: err };
      throw err;
    }
  });
}

/**
 * Brings the stored allocations, sale results and purchase remainders of each stream from its cut
 * on to its result: rows from the cut on that are no longer produced are deleted, new or changed
 * ones upserted, unchanged ones left alone. One statement per table for all the streams. (Each
 * deletes keys absent from the new rows and upserts the new rows: the two never touch the same
 * row. Raw SQL for the unnest inputs.)
 */
async function writeAllocations(db: Db, computed: readonly Computed[]): Promise<void> {
  if (computed.length === 0) return;
  const streamsCte = sql`SELECT * FROM ${streamsTable(computed)}`;

  // Declared and FIFO parts from one purchase are separate rows (basis is part of the key).
  const a = computed.flatMap((c) => {
    const saleAt = new Map(c.sales.map((s) => [refKey(s.ref), new Date(s.atMs).toISOString()]));
    return c.result.allocations.map((x) => ({ ...x, stream: c.stream, at: saleAt.get(refKey(x.sale))! }));
  });
  await sql`
    WITH s AS (${streamsCte}), n AS (
      SELECT * FROM unnest(${a.map((x) => x.stream.partyKey)}::text[], ${a.map((x) => x.stream.material)}::text[],
        ${a.map((x) => x.sale.platform)}::text[], ${a.map((x) => x.sale.tradeId)}::text[],
        ${a.map((x) => x.purchase.platform)}::text[], ${a.map((x) => x.purchase.tradeId)}::text[],
        ${a.map((x) => x.basis)}::text[], ${a.map((x) => x.quantityG.toString())}::int8[], ${a.map((x) => x.at)}::timestamptz[])
        AS n(party_key, material, sale_platform, sale_trade_id, purchase_platform, purchase_trade_id, basis, quantity_g, sale_at)
    ), gone AS (
      DELETE FROM allocations o USING s
      WHERE o.party_key = s.party_key AND o.material = s.material AND o.sale_at >= s.cut
        AND NOT EXISTS (SELECT 1 FROM n WHERE n.party_key = o.party_key AND n.material = o.material
          AND n.sale_platform = o.sale_platform AND n.sale_trade_id = o.sale_trade_id
          AND n.purchase_platform = o.purchase_platform AND n.purchase_trade_id = o.purchase_trade_id AND n.basis = o.basis)
    )
    INSERT INTO allocations AS o (party_key, material, sale_platform, sale_trade_id, purchase_platform,
      purchase_trade_id, basis, quantity_g, sale_at)
    SELECT * FROM n
    ON CONFLICT (party_key, material, sale_platform, sale_trade_id, purchase_platform, purchase_trade_id, basis)
    DO UPDATE SET quantity_g = excluded.quantity_g, sale_at = excluded.sale_at
    WHERE o.quantity_g <> excluded.quantity_g OR o.sale_at <> excluded.sale_at`.execute(db);

  const r = computed.flatMap((c) => {
    const unsourced = new Map(c.result.unsourced.map((u) => [refKey(u.sale), u.quantityG]));
    const discrepancies = new Map<string, unknown[]>();
    for (const d of c.result.discrepancies) {
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
    return c.sales.map((s) => ({
      stream: c.stream,
      ref: s.ref,
      at: new Date(s.atMs).toISOString(),
      g: s.quantityG.toString(),
      unsourced: (unsourced.get(refKey(s.ref)) ?? 0n).toString(),
      discrepancies: JSON.stringify(discrepancies.get(refKey(s.ref)) ?? []),
    }));
  });
  await sql`
    WITH s AS (${streamsCte}), n AS (
      SELECT * FROM unnest(${r.map((x) => x.stream.partyKey)}::text[], ${r.map((x) => x.stream.material)}::text[],
        ${r.map((x) => x.ref.platform)}::text[], ${r.map((x) => x.ref.tradeId)}::text[], ${r.map((x) => x.at)}::timestamptz[],
        ${r.map((x) => x.g)}::int8[], ${r.map((x) => x.unsourced)}::int8[], ${r.map((x) => x.discrepancies)}::jsonb[])
        AS n(party_key, material, platform, trade_id, sale_at, quantity_g, unsourced_g, discrepancies)
    ), gone AS (
      DELETE FROM sale_results o USING s
      WHERE o.party_key = s.party_key AND o.material = s.material AND o.sale_at >= s.cut
        AND NOT EXISTS (SELECT 1 FROM n WHERE n.party_key = o.party_key AND n.material = o.material
          AND n.platform = o.platform AND n.trade_id = o.trade_id)
    )
    INSERT INTO sale_results AS o (party_key, material, platform, trade_id, sale_at, quantity_g, unsourced_g, discrepancies)
    SELECT * FROM n
    ON CONFLICT (party_key, material, platform, trade_id) DO UPDATE SET sale_at = excluded.sale_at,
      quantity_g = excluded.quantity_g, unsourced_g = excluded.unsourced_g, discrepancies = excluded.discrepancies
    WHERE (o.sale_at, o.quantity_g, o.unsourced_g, o.discrepancies)
      IS DISTINCT FROM (excluded.sale_at, excluded.quantity_g, excluded.unsourced_g, excluded.discrepancies)`.execute(
    db,
  );

  // Remainders: every purchase allocateStream saw (all those from the cut on, and those before
  // it that hold stock or were named); before the cut, unchanged ones are left alone.
  const p = computed.flatMap((c) => {
    const purchase = new Map(c.purchases.map((x) => [refKey(x.ref), x]));
    return c.result.remaining.map((x) => {
      const e = purchase.get(refKey(x.purchase))!;
      return {
        stream: c.stream,
        ref: x.purchase,
        at: new Date(e.atMs).toISOString(),
        g: e.quantityG.toString(),
        left: x.quantityG.toString(),
      };
    });
  });
  await sql`
    WITH s AS (${streamsCte}), n AS (
      SELECT * FROM unnest(${p.map((x) => x.stream.partyKey)}::text[], ${p.map((x) => x.stream.material)}::text[],
        ${p.map((x) => x.ref.platform)}::text[], ${p.map((x) => x.ref.tradeId)}::text[], ${p.map((x) => x.at)}::timestamptz[],
        ${p.map((x) => x.g)}::int8[], ${p.map((x) => x.left)}::int8[])
        AS n(party_key, material, platform, trade_id, occurred_at, quantity_g, remaining_g)
    ), gone AS (
      DELETE FROM purchase_remainders o USING s
      WHERE o.party_key = s.party_key AND o.material = s.material AND o.occurred_at >= s.cut
        AND NOT EXISTS (SELECT 1 FROM n WHERE n.party_key = o.party_key AND n.material = o.material
          AND n.platform = o.platform AND n.trade_id = o.trade_id)
    )
    INSERT INTO purchase_remainders AS o (party_key, material, platform, trade_id, occurred_at, quantity_g, remaining_g)
    SELECT * FROM n
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
