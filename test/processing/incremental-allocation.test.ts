/**
 * Incremental allocation (src/processing/allocate.ts) against a re-allocation from scratch: a
 * stream's entries change in random steps (purchases and sales added, amended, removed; claims on
 * earlier, later, exhausted and unknown purchases), marked dirty the way event processing marks
 * them, and allocated after some of the steps. Whatever the steps, the stored allocations, sale
 * results and purchase remainders must equal the pure full run over the final entries.
 * ALLOC_RUNS sets the number of runs (default 25).
 */
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { allocateStream, refKey, type Sale, type StreamEntry } from '../../src/domain/allocation';
import { allocateDirtyStream, allocateDirtyStreams } from '../../src/processing/allocate';
import { markStreamsDirty } from '../../src/processing/trades';
import { createTestContext, type TestContext, uid } from '../support/context';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => ctx.close());

const PLATFORM = 'pf';
const MATERIAL = 'steel_scrap';
const T0 = Date.parse('2026-10-01T00:00:00Z');

interface Entry {
  role: 'purchase' | 'sale';
  id: string;
  atMs: number;
  g: bigint;
  claims: { trade_id: string; g: bigint }[];
}

const timeArb = fc.record({ day: fc.integer({ min: 0, max: 9 }), hour: fc.constantFrom(0, 6, 12) });
const opArb = fc.oneof(
  fc.record({
    kind: fc.constant('purchase' as const),
    n: fc.integer({ min: 0, max: 5 }),
    at: timeArb,
    kg: fc.integer({ min: 1, max: 100 }),
  }),
  fc.record({
    kind: fc.constant('sale' as const),
    n: fc.integer({ min: 0, max: 5 }),
    at: timeArb,
    kg: fc.integer({ min: 1, max: 120 }),
    // Purchase 6 never exists: a claim on something that is not a purchase.
    claims: fc.array(fc.record({ p: fc.integer({ min: 0, max: 6 }), kg: fc.integer({ min: 0, max: 80 }) }), {
      maxLength: 2,
    }),
  }),
  fc.record({
    kind: fc.constant('remove' as const),
    role: fc.constantFrom('purchase' as const, 'sale' as const),
    n: fc.integer({ min: 0, max: 5 }),
  }),
);
type Op = typeof opArb extends fc.Arbitrary<infer O> ? O : never;
const stepsArb = fc.array(
  fc.record({
    party: fc.integer({ min: 0, max: 1 }),
    ops: fc.array(opArb, { minLength: 1, maxLength: 4 }),
    allocate: fc.boolean(),
  }),
  { minLength: 1, maxLength: 14 },
);

const key = (role: string, id: string) => `${role}:${id}`;

/** Writes the changed entries and marks the stream the way applyTradeVersions does. */
async function apply(party: string, entries: Map<string, Entry>, ops: readonly Op[]) {
  const db = ctx.rt.db;
  const changed: Entry[] = [];
  for (const op of ops) {
    if (op.kind === 'remove') {
      const k = key(op.role, `${op.role === 'purchase' ? 'P' : 'S'}${op.n}`);
      const old = entries.get(k);
      if (old) {
        entries.delete(k);
        changed.push(old);
      }
      continue;
    }
    const id = `${op.kind === 'purchase' ? 'P' : 'S'}${op.n}`;
    const e: Entry = {
      role: op.kind,
      id,
      atMs: T0 + op.at.day * 86_400_000 + op.at.hour * 3_600_000,
      g: BigInt(op.kg) * 1000n,
      claims:
        op.kind === 'sale' ? op.claims.map((c) => ({ trade_id: `P${c.p}`, g: BigInt(c.kg) * 1000n })) : [],
    };
    const old = entries.get(key(e.role, id));
    if (old) changed.push(old);
    changed.push(e);
    entries.set(key(e.role, id), e);
  }
  if (changed.length === 0) return;
  await db.transaction().execute(async (trx) => {
    for (const e of changed) {
      await trx
        .deleteFrom('stream_entries')
        .where('party_key', '=', party)
        .where('material', '=', MATERIAL)
        .where('role', '=', e.role)
        .where('platform', '=', PLATFORM)
        .where('trade_id', '=', e.id)
        .execute();
    }
    const current = [...new Set(changed.map((e) => key(e.role, e.id)))]
      .map((k) => entries.get(k))
      .filter((e): e is Entry => e !== undefined);
    if (current.length > 0) {
      await trx
        .insertInto('stream_entries')
        .values(
          current.map((e) => ({
            party_key: party,
            material: MATERIAL,
            role: e.role,
            platform: PLATFORM,
            trade_id: e.id,
            occurred_at: new Date(e.atMs),
            quantity_g: e.g,
            amount_fen: 0n,
            claims: JSON.stringify(
              e.claims.map((c) => ({ platform: PLATFORM, trade_id: c.trade_id, quantity_g: c.g.toString() })),
            ),
          })),
        )
        .execute();
    }
    // Dirty from the earliest changed time; a changed purchase also from the earliest sale claiming it.
    let from = Math.min(...changed.map((e) => e.atMs));
    const purchases = new Set(changed.filter((e) => e.role === 'purchase').map((e) => e.id));
    for (const e of entries.values())
      if (e.role === 'sale' && e.claims.some((c) => purchases.has(c.trade_id))) from = Math.min(from, e.atMs);
    await markStreamsDirty(trx, [{ partyKey: party, material: MATERIAL, from: new Date(from) }]);
  });
}

/** The stored state against allocateStream over all current entries, from scratch. */
async function expectMatchesFullRun(party: string, entries: Map<string, Entry>) {
  const db = ctx.rt.db;
  const ref = (id: string) => ({ platform: PLATFORM, tradeId: id });
  const purchases: StreamEntry[] = [];
  const sales: Sale[] = [];
  for (const e of entries.values()) {
    if (e.role === 'purchase') purchases.push({ ref: ref(e.id), atMs: e.atMs, quantityG: e.g });
    else
      sales.push({
        ref: ref(e.id),
        atMs: e.atMs,
        quantityG: e.g,
        claims: e.claims.map((c) => ({ upstream: ref(c.trade_id), quantityG: c.g })),
      });
  }
  const full = allocateStream(purchases, sales);
  const sortBy =
    <T>(f: (x: T) => string) =>
    (a: T, b: T) =>
      f(a) < f(b) ? -1 : f(a) > f(b) ? 1 : 0;

  const allocations = await db
    .selectFrom('allocations')
    .select(['sale_trade_id', 'purchase_trade_id', 'basis', 'quantity_g', 'sale_at'])
    .where('party_key', '=', party)
    .execute();
  const akey = (a: { s: string; p: string; basis: string }) => `${a.s}|${a.p}|${a.basis}`;
  expect(
    allocations
      .map((a) => ({
        s: a.sale_trade_id,
        p: a.purchase_trade_id,
        basis: a.basis,
        g: a.quantity_g,
        at: (a.sale_at as Date).getTime(),
      }))
      .sort(sortBy(akey)),
  ).toEqual(
    full.allocations
      .map((a) => ({
        s: a.sale.tradeId,
        p: a.purchase.tradeId,
        basis: a.basis,
        g: a.quantityG,
        at: entries.get(key('sale', a.sale.tradeId))!.atMs,
      }))
      .sort(sortBy(akey)),
  );

  const results = await db
    .selectFrom('sale_results')
    .select(['trade_id', 'sale_at', 'quantity_g', 'unsourced_g', 'discrepancies'])
    .where('party_key', '=', party)
    .execute();
  const unsourced = new Map(full.unsourced.map((u) => [refKey(u.sale), u.quantityG]));
  expect(
    results
      .map((r) => ({
        id: r.trade_id,
        at: (r.sale_at as Date).getTime(),
        g: r.quantity_g,
        unsourced: r.unsourced_g,
        discrepancies: r.discrepancies,
      }))
      .sort(sortBy((r) => r.id)),
  ).toEqual(
    sales
      .map((s) => ({
        id: s.ref.tradeId,
        at: s.atMs,
        g: s.quantityG,
        unsourced: unsourced.get(refKey(s.ref)) ?? 0n,
        discrepancies: full.discrepancies
          .filter((d) => d.sale.tradeId === s.ref.tradeId)
          .map((d) => ({
            upstream: d.upstream,
            claimed_g: d.claimedG.toString(),
            granted_g: d.grantedG.toString(),
            reason: d.reason,
          })),
      }))
      .sort(sortBy((r) => r.id)),
  );

  const remainders = await db
    .selectFrom('purchase_remainders')
    .select(['trade_id', 'occurred_at', 'quantity_g', 'remaining_g'])
    .where('party_key', '=', party)
    .execute();
  expect(
    remainders
      .map((r) => ({
        id: r.trade_id,
        at: (r.occurred_at as Date).getTime(),
        g: r.quantity_g,
        left: r.remaining_g,
      }))
      .sort(sortBy((r) => r.id)),
  ).toEqual(
    full.remaining
      .map((r) => {
        const e = entries.get(key('purchase', r.purchase.tradeId))!;
        return { id: e.id, at: e.atMs, g: e.g, left: r.quantityG };
      })
      .sort(sortBy((r) => r.id)),
  );
}

it('incremental re-allocation stores what a full re-allocation from scratch gives', async () => {
  await fc.assert(
    fc.asyncProperty(stepsArb, fc.integer({ min: 1, max: 16 }), async (steps, perTransaction) => {
      // Two streams, so that a job also allocates the other one along with its own.
      const parties = [uid('inc'), uid('inc')];
      const entries = parties.map(() => new Map<string, Entry>());
      const allocate = (i: number) =>
        allocateDirtyStream(ctx.rt.db, { partyKey: parties[i]!, material: MATERIAL }, undefined, {
          streamsPerTransaction: perTransaction,
        });
      for (const step of steps) {
        await apply(parties[step.party]!, entries[step.party]!, step.ops);
        if (step.allocate) await allocate(step.party);
      }
      // The end as allocation jobs do it, several at once on their own connections: both
      // streams in each order (their locks are taken in one sorted pass, so overlapping jobs
      // cannot deadlock) and one of them alone.
      const streams = parties.map((partyKey) => ({ partyKey, material: MATERIAL }));
      const opts = { streamsPerTransaction: perTransaction };
      const last = await Promise.all([
        allocateDirtyStreams(ctx.rt.db, streams, undefined, opts),
        allocateDirtyStreams(ctx.rt.db, [...streams].reverse(), undefined, opts),
        allocateDirtyStreams(ctx.rt.db, [streams[1]!], undefined, opts),
      ]);
      for (const r of last) expect(r.clean).toBe(true);
      const dirty = await ctx.rt.db
        .selectFrom('stream_dirty')
        .select('party_key')
        .where('party_key', 'in', parties)
        .execute();
      expect(dirty).toEqual([]);
      for (let i = 0; i < parties.length; i++) await expectMatchesFullRun(parties[i]!, entries[i]!);
    }),
    { numRuns: Number(process.env.ALLOC_RUNS ?? 25) },
  );
}, 240_000);

it('a stored state that no longer fits the entries falls back to a full re-allocation', async () => {
  const party = uid('inc');
  const entries = new Map<string, Entry>();
  const at = { day: 0, hour: 0 as const };
  await apply(party, entries, [
    { kind: 'purchase', n: 0, at, kg: 10 },
    { kind: 'purchase', n: 1, at: { day: 1, hour: 0 }, kg: 10 },
    { kind: 'sale', n: 0, at: { day: 2, hour: 0 }, kg: 5, claims: [] },
  ]);
  await allocateDirtyStream(ctx.rt.db, { partyKey: party, material: MATERIAL });
  // A remainder above the purchase's quantity cannot come from any allocation.
  await sql`UPDATE purchase_remainders SET remaining_g = 99000000 WHERE party_key = ${party} AND trade_id = 'P0'`.execute(
    ctx.rt.db,
  );
  await apply(party, entries, [{ kind: 'sale', n: 1, at: { day: 3, hour: 0 }, kg: 12, claims: [] }]);
  await allocateDirtyStream(ctx.rt.db, { partyKey: party, material: MATERIAL });
  await expectMatchesFullRun(party, entries);
});
