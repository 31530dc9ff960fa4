import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Allocation,
  allocateStream,
  compareEntries,
  type EntryKey,
  openingStateAt,
  refKey,
  type Sale,
  type StreamEntry,
  StreamInputError,
  type StreamResult,
  type TradeRef,
} from '../../src/domain/allocation';

const T0 = Date.UTC(2026, 2, 1); // 2026-03-01T08:00+08:00
const at = (hours: number): number => T0 + hours * 3_600_000;
const kg = (n: number): bigint => BigInt(n) * 1000n;
const ref = (tradeId: string, platform = 'jmrr'): TradeRef => ({ platform, tradeId });
const buy = (id: string, hours: number, kilos: number): StreamEntry => ({
  ref: ref(id),
  atMs: at(hours),
  quantityG: kg(kilos),
});
const sell = (id: string, hours: number, kilos: number, claims: [string, number][] = []): Sale => ({
  ref: ref(id),
  atMs: at(hours),
  quantityG: kg(kilos),
  claims: claims.map(([up, kilos]) => ({ upstream: ref(up), quantityG: kg(kilos) })),
});
const alloc = (sale: string, purchase: string, kilos: number, basis: Allocation['basis']): Allocation => ({
  sale: ref(sale),
  purchase: ref(purchase),
  quantityG: kg(kilos),
  basis,
});
const remaining = (r: StreamResult): Record<string, bigint> =>
  Object.fromEntries(r.remaining.map((x) => [refKey(x.purchase), x.quantityG]));

describe('compareEntries', () => {
  it('orders by time, then platform, then trade id', () => {
    const keys: EntryKey[] = [
      { atMs: 2, ref: ref('A') },
      { atMs: 1, ref: ref('B', 'other') },
      { atMs: 1, ref: ref('B') },
      { atMs: 1, ref: ref('A') },
    ];
    expect([...keys].sort(compareEntries).map((k) => `${k.atMs}/${refKey(k.ref)}`)).toEqual([
      '1/jmrr:A',
      '1/jmrr:B',
      '1/other:B',
      '2/jmrr:A',
    ]);
    expect(compareEntries({ atMs: 1, ref: ref('A') }, { atMs: 1, ref: ref('A') })).toBe(0);
  });

  it('compares strings by code unit, not by locale', () => {
    expect(compareEntries({ atMs: 0, ref: ref('Z') }, { atMs: 0, ref: ref('a') })).toBeLessThan(0);
    expect(compareEntries({ atMs: 0, ref: ref('T10') }, { atMs: 0, ref: ref('T9') })).toBeLessThan(0);
  });
});

describe('allocateStream — worked examples', () => {
  it('FIFO across several purchases, only from purchases before each sale', () => {
    const r = allocateStream(
      [buy('P1', 1, 100), buy('P2', 2, 200), buy('P3', 5, 300)],
      [sell('S1', 3, 150), sell('S2', 4, 100), sell('S3', 6, 300)],
    );
    expect(r.allocations).toEqual([
      alloc('S1', 'P1', 100, 'fifo'),
      alloc('S1', 'P2', 50, 'fifo'),
      alloc('S2', 'P2', 100, 'fifo'),
      alloc('S3', 'P2', 50, 'fifo'),
      alloc('S3', 'P3', 250, 'fifo'),
    ]);
    expect(r.unsourced).toEqual([]);
    expect(r.discrepancies).toEqual([]);
    expect(remaining(r)).toEqual({ 'jmrr:P1': 0n, 'jmrr:P2': 0n, 'jmrr:P3': kg(50) });
  });

  it('declared provenance overrides FIFO', () => {
    const r = allocateStream(
      [buy('P1', 1, 100), buy('P2', 2, 100)],
      [sell('S1', 3, 80, [['P2', 80]]), sell('S2', 4, 100)],
    );
    expect(r.allocations).toEqual([alloc('S1', 'P2', 80, 'declared'), alloc('S2', 'P1', 100, 'fifo')]);
    expect(r.discrepancies).toEqual([]);
    expect(remaining(r)).toEqual({ 'jmrr:P1': 0n, 'jmrr:P2': kg(20) });
  });

  it('a claim beyond what is left is capped, reported, and the rest goes FIFO', () => {
    const r = allocateStream(
      [buy('P1', 1, 100), buy('P2', 2, 100)],
      [sell('S1', 3, 70, [['P2', 70]]), sell('S2', 4, 100, [['P2', 50]])],
    );
    expect(r.allocations).toEqual([
      alloc('S1', 'P2', 70, 'declared'),
      alloc('S2', 'P2', 30, 'declared'),
      alloc('S2', 'P1', 70, 'fifo'),
    ]);
    expect(r.discrepancies).toEqual([
      {
        sale: ref('S2'),
        upstream: ref('P2'),
        claimedG: kg(50),
        grantedG: kg(30),
        reason: 'exceeds_remaining',
      },
    ]);
    expect(r.unsourced).toEqual([]);
  });

  it('claims adding up to more than the sale are capped by the sale, oldest purchase first', () => {
    // Listed newest first: the order in the record does not matter.
    const r = allocateStream(
      [buy('P1', 1, 100), buy('P2', 2, 100)],
      [
        sell('S1', 3, 50, [
          ['P2', 40],
          ['P1', 40],
        ]),
      ],
    );
    expect(r.allocations).toEqual([alloc('S1', 'P1', 40, 'declared'), alloc('S1', 'P2', 10, 'declared')]);
    expect(r.discrepancies).toEqual([
      {
        sale: ref('S1'),
        upstream: ref('P2'),
        claimedG: kg(40),
        grantedG: kg(10),
        reason: 'exceeds_remaining',
      },
    ]);
  });

  it('claims on the same purchase are merged', () => {
    const r = allocateStream(
      [buy('P1', 1, 100), buy('P2', 2, 100)],
      [
        sell('S1', 3, 50, [
          ['P2', 20],
          ['P2', 25],
        ]),
      ],
    );
    expect(r.allocations).toEqual([alloc('S1', 'P2', 45, 'declared'), alloc('S1', 'P1', 5, 'fifo')]);
  });

  it('a claim on a later purchase, or on something that is no purchase, gets nothing', () => {
    const r = allocateStream(
      [buy('P1', 1, 100), buy('P2', 3, 100)],
      [
        sell('S1', 2, 50, [
          ['P2', 30],
          ['X9', 10],
        ]),
        sell('S2', 4, 10, [['S1', 10]]),
      ],
    );
    expect(r.allocations).toEqual([alloc('S1', 'P1', 50, 'fifo'), alloc('S2', 'P1', 10, 'fifo')]);
    expect(r.discrepancies).toEqual([
      { sale: ref('S1'), upstream: ref('P2'), claimedG: kg(30), grantedG: 0n, reason: 'later_purchase' },
      { sale: ref('S1'), upstream: ref('X9'), claimedG: kg(10), grantedG: 0n, reason: 'not_a_purchase' },
      { sale: ref('S2'), upstream: ref('S1'), claimedG: kg(10), grantedG: 0n, reason: 'not_a_purchase' },
    ]);
    expect(remaining(r)).toEqual({ 'jmrr:P1': kg(40), 'jmrr:P2': kg(100) });
  });

  it('a claim on a purchase at the same instant as the sale is later when its ref sorts after', () => {
    const r = allocateStream(
      [buy('A', 1, 10), buy('C', 1, 10)],
      [
        sell('B', 1, 20, [
          ['C', 10],
          ['A', 10],
        ]),
      ],
    );
    expect(r.allocations).toEqual([alloc('B', 'A', 10, 'declared')]);
    expect(r.discrepancies).toEqual([
      { sale: ref('B'), upstream: ref('C'), claimedG: kg(10), grantedG: 0n, reason: 'later_purchase' },
    ]);
    expect(r.unsourced).toEqual([{ sale: ref('B'), quantityG: kg(10) }]);
  });

  it('what no earlier purchase covers is unsourced', () => {
    const r = allocateStream([buy('P1', 2, 100)], [sell('S0', 1, 50), sell('S1', 3, 150)]);
    expect(r.allocations).toEqual([alloc('S1', 'P1', 100, 'fifo')]);
    expect(r.unsourced).toEqual([
      { sale: ref('S0'), quantityG: kg(50) },
      { sale: ref('S1'), quantityG: kg(50) },
    ]);
  });

  it('a purchase shrunk by an amendment moves quantity to unsourced in later sales', () => {
    const sales = [sell('S1', 3, 120), sell('S2', 4, 80)];
    const before = allocateStream([buy('P1', 1, 100), buy('P2', 2, 100)], sales);
    expect(before.allocations).toEqual([
      alloc('S1', 'P1', 100, 'fifo'),
      alloc('S1', 'P2', 20, 'fifo'),
      alloc('S2', 'P2', 80, 'fifo'),
    ]);
    expect(before.unsourced).toEqual([]);

    const shrunk = [buy('P1', 1, 60), buy('P2', 2, 100)];
    const after = allocateStream(shrunk, sales);
    expect(after.allocations).toEqual([
      alloc('S1', 'P1', 60, 'fifo'),
      alloc('S1', 'P2', 60, 'fifo'),
      alloc('S2', 'P2', 40, 'fifo'),
    ]);
    expect(after.unsourced).toEqual([{ sale: ref('S2'), quantityG: kg(40) }]);

    // Re-allocating from the amended purchase's time gives the same as the full run.
    const cut = { atMs: at(1), ref: ref('P1') };
    const opening = openingStateAt(shrunk, { allocations: [] }, cut);
    expect(allocateStream(shrunk, sales, opening)).toEqual(after);
  });

  it('ties in time are broken by (platform, trade id)', () => {
    const purchases: StreamEntry[] = [
      { ref: ref('B'), atMs: at(1), quantityG: kg(10) },
      { ref: ref('A', 'other'), atMs: at(1), quantityG: kg(10) },
      { ref: ref('A'), atMs: at(1), quantityG: kg(10) },
    ];
    const r = allocateStream(purchases, [
      { ref: ref('AZ'), atMs: at(1), quantityG: kg(15), claims: [] },
      { ref: ref('S'), atMs: at(2), quantityG: kg(15), claims: [] },
    ]);
    // jmrr:AZ sorts after jmrr:A but before jmrr:B and other:A.
    expect(r.allocations).toEqual([
      alloc('AZ', 'A', 10, 'fifo'),
      alloc('S', 'B', 10, 'fifo'),
      { sale: ref('S'), purchase: ref('A', 'other'), quantityG: kg(5), basis: 'fifo' },
    ]);
    expect(r.unsourced).toEqual([{ sale: ref('AZ'), quantityG: kg(5) }]);
  });

  it('a trade that is both a purchase and a sale of the party cannot supply itself', () => {
    const r = allocateStream([buy('X', 1, 10)], [sell('X', 1, 10, [['X', 10]])]);
    expect(r.allocations).toEqual([]);
    expect(r.discrepancies[0]?.reason).toBe('later_purchase');
    expect(r.unsourced).toEqual([{ sale: ref('X'), quantityG: kg(10) }]);
  });

  it('rejects duplicate refs and malformed values', () => {
    expect(() => allocateStream([buy('P1', 1, 1), buy('P1', 2, 1)], [])).toThrow(StreamInputError);
    expect(() => allocateStream([], [sell('S', 1, 1), sell('S', 1, 1)])).toThrow(/duplicate sale jmrr:S/);
    expect(() => allocateStream([{ ...buy('P', 1, 1), quantityG: -1n }], [])).toThrow(StreamInputError);
    expect(() => allocateStream([{ ...buy('P', 1, 1), atMs: 1.5 }], [])).toThrow(StreamInputError);
    expect(() =>
      allocateStream([], [{ ...sell('S', 1, 1), claims: [{ upstream: ref('P'), quantityG: -1n }] }]),
    ).toThrow(StreamInputError);
  });
});

describe('incremental re-allocation — examples', () => {
  const purchases = [buy('P1', 1, 100), buy('P2', 3, 100)];
  const sales = [sell('S1', 2, 60), sell('S2', 4, 60), sell('S3', 5, 60)];

  it('starts from the remainders at the cut', () => {
    const full = allocateStream(purchases, sales);
    const cut = { atMs: at(4), ref: ref('') };
    const opening = openingStateAt(purchases, { allocations: [alloc('S1', 'P1', 60, 'fifo')] }, cut);
    expect([...opening.remainingG]).toEqual([
      ['jmrr:P1', kg(40)],
      ['jmrr:P2', kg(100)],
    ]);
    const inc = allocateStream(purchases, sales, opening);
    expect(inc.allocations).toEqual(full.allocations.slice(1));
    expect(inc.remaining).toEqual(full.remaining);
  });

  it('rejects stored allocations that do not fit the cut', () => {
    const cut = { atMs: at(2), ref: ref('S1') };
    expect(() => openingStateAt(purchases, { allocations: [alloc('S2', 'P2', 10, 'fifo')] }, cut)).toThrow(
      /not a purchase before the cut/,
    );
    expect(() => openingStateAt(purchases, { allocations: [alloc('S1', 'P1', 101, 'fifo')] }, cut)).toThrow(
      /exceed/,
    );
    expect(() => allocateStream(purchases, sales, { cut, remainingG: new Map() })).toThrow(/lacks purchase/);
    expect(() => allocateStream(purchases, sales, { cut, remainingG: new Map([['jmrr:P2', 1n]]) })).toThrow(
      /not before the cut/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

interface Stream {
  purchases: StreamEntry[];
  sales: Sale[];
}

const refArb = fc.record({
  platform: fc.constantFrom('a', 'b'),
  tradeId: fc.stringMatching(/^[0-9a-c]{1,2}$/),
});

const N = 24;
const streamArb: fc.Arbitrary<Stream> = fc
  .record({
    refs: fc.uniqueArray(refArb, { selector: refKey, maxLength: N }),
    split: fc.nat(),
    selfTrade: fc.boolean(),
    times: fc.array(fc.integer({ min: 0, max: 15 }), { minLength: N, maxLength: N }),
    quantities: fc.array(fc.bigInt({ min: 0n, max: 60n }), { minLength: N, maxLength: N }),
    claims: fc.array(
      fc.array(fc.record({ target: fc.nat(), quantityG: fc.bigInt({ min: 0n, max: 40n }) }), {
        maxLength: 3,
      }),
      { minLength: N, maxLength: N },
    ),
  })
  .map(({ refs, split, selfTrade, times, quantities, claims }) => {
    const k = split % (refs.length + 1);
    const entry = (r: TradeRef, i: number): StreamEntry => ({
      ref: r,
      atMs: T0 + times[i]! * 1000,
      quantityG: quantities[i]!,
    });
    const purchases = refs.slice(0, k).map(entry);
    const sales = refs.slice(k).map((r, j) => ({
      ...entry(r, k + j),
      claims: claims[k + j]!.map((c) => {
        // Mostly the party's purchases; sometimes one of its sales or an unknown trade.
        const t = c.target % (k + 2);
        const upstream =
          t < k ? refs[t]! : t === k ? refs[k + (c.target % (refs.length - k))]! : ref(`x${c.target}`, 'z');
        return { upstream, quantityG: c.quantityG };
      }),
    }));
    // Sometimes the party trades with itself: one trade is both a purchase and a sale.
    const first = purchases[0];
    const last = sales.at(-1);
    if (selfTrade && first && last)
      Object.assign(last, { ref: first.ref, atMs: first.atMs, quantityG: first.quantityG });
    return { purchases, sales };
  });

/** A deterministic shuffle from a seed (tests may not use Math.random either: runs must replay). */
function shuffle<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  let s = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1_103_515_245) + 12_345) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The semantics written as plainly as possible, to check the optimised implementation against. */
function naiveAllocate(purchases: readonly StreamEntry[], sales: readonly Sale[]): StreamResult {
  const ps = [...purchases].sort(compareEntries);
  const ss = [...sales].sort(compareEntries);
  const left = new Map(ps.map((p) => [refKey(p.ref), p.quantityG]));
  const out: StreamResult = { allocations: [], unsourced: [], discrepancies: [], remaining: [] };
  for (const sale of ss) {
    let need = sale.quantityG;
    const merged = new Map<string, { upstream: TradeRef; claimed: bigint }>();
    for (const c of sale.claims) {
      const m = merged.get(refKey(c.upstream));
      if (m) m.claimed += c.quantityG;
      else merged.set(refKey(c.upstream), { upstream: c.upstream, claimed: c.quantityG });
    }
    const pos = (r: TradeRef): number => {
      const i = ps.findIndex((p) => refKey(p.ref) === refKey(r));
      return i < 0 ? ps.length : i;
    };
    const claims = [...merged.values()].sort(
      (a, b) =>
        pos(a.upstream) - pos(b.upstream) ||
        (refKey(a.upstream) < refKey(b.upstream) ? -1 : refKey(a.upstream) > refKey(b.upstream) ? 1 : 0),
    );
    for (const { upstream, claimed } of claims) {
      const p = ps.find((x) => refKey(x.ref) === refKey(upstream));
      if (!p) {
        out.discrepancies.push({
          sale: sale.ref,
          upstream,
          claimedG: claimed,
          grantedG: 0n,
          reason: 'not_a_purchase',
        });
        continue;
      }
      if (compareEntries(p, sale) >= 0) {
        out.discrepancies.push({
          sale: sale.ref,
          upstream,
          claimedG: claimed,
          grantedG: 0n,
          reason: 'later_purchase',
        });
        continue;
      }
      const l = left.get(refKey(upstream))!;
      let g = claimed;
      if (l < g) g = l;
      if (need < g) g = need;
      if (g > 0n)
        out.allocations.push({ sale: sale.ref, purchase: upstream, quantityG: g, basis: 'declared' });
      left.set(refKey(upstream), l - g);
      need -= g;
      if (g < claimed) {
        out.discrepancies.push({
          sale: sale.ref,
          upstream,
          claimedG: claimed,
          grantedG: g,
          reason: 'exceeds_remaining',
        });
      }
    }
    for (const p of ps) {
      const l = left.get(refKey(p.ref))!;
      if (need === 0n || compareEntries(p, sale) >= 0) break;
      if (l === 0n) continue;
      let g = need;
      if (l < g) g = l;
      out.allocations.push({ sale: sale.ref, purchase: p.ref, quantityG: g, basis: 'fifo' });
      left.set(refKey(p.ref), l - g);
      need -= g;
    }
    if (need > 0n) out.unsourced.push({ sale: sale.ref, quantityG: need });
  }
  out.remaining = ps.map((p) => ({ purchase: p.ref, quantityG: left.get(refKey(p.ref))! }));
  return out;
}

const sum = (xs: readonly { quantityG: bigint }[]): bigint => xs.reduce((s, x) => s + x.quantityG, 0n);

describe('allocateStream — properties', () => {
  it('agrees with a plain model of the semantics', () => {
    fc.assert(
      fc.property(streamArb, ({ purchases, sales }) => {
        expect(allocateStream(purchases, sales)).toEqual(naiveAllocate(purchases, sales));
      }),
      { numRuns: 300 },
    );
  });

  it('(1) is independent of input order, including the order of claims', () => {
    fc.assert(
      fc.property(streamArb, fc.integer(), ({ purchases, sales }, seed) => {
        const shuffled = shuffle(sales, seed).map((s, i) => ({ ...s, claims: shuffle(s.claims, seed + i) }));
        expect(allocateStream(shuffle(purchases, seed + 1), shuffled)).toEqual(
          allocateStream(purchases, sales),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('(2) conserves mass: every sale is covered or unsourced, no purchase is overdrawn', () => {
    fc.assert(
      fc.property(streamArb, ({ purchases, sales }) => {
        const r = allocateStream(purchases, sales);
        for (const s of sales) {
          const k = refKey(s.ref);
          const covered = sum(r.allocations.filter((a) => refKey(a.sale) === k));
          const unsourced = sum(r.unsourced.filter((u) => refKey(u.sale) === k));
          expect(covered + unsourced).toBe(s.quantityG);
        }
        expect(r.remaining).toHaveLength(purchases.length);
        for (const p of purchases) {
          const k = refKey(p.ref);
          const taken = sum(r.allocations.filter((a) => refKey(a.purchase) === k));
          expect(taken).toBeLessThanOrEqual(p.quantityG);
          expect(r.remaining.find((x) => refKey(x.purchase) === k)?.quantityG).toBe(p.quantityG - taken);
        }
        for (const a of r.allocations) expect(a.quantityG).toBeGreaterThan(0n);
        for (const u of r.unsourced) expect(u.quantityG).toBeGreaterThan(0n);
        for (const d of r.discrepancies) expect(d.grantedG).toBeLessThanOrEqual(d.claimedG);
      }),
      { numRuns: 300 },
    );
  });

  it('(3) is causal: allocations only come from purchases strictly before the sale', () => {
    fc.assert(
      fc.property(streamArb, ({ purchases, sales }) => {
        const saleOf = new Map(sales.map((s) => [refKey(s.ref), s]));
        const purchaseOf = new Map(purchases.map((p) => [refKey(p.ref), p]));
        for (const a of allocateStream(purchases, sales).allocations) {
          const p = purchaseOf.get(refKey(a.purchase));
          const s = saleOf.get(refKey(a.sale));
          if (!p || !s) throw new Error(`allocation names unknown trades: ${JSON.stringify(a)}`);
          expect(compareEntries(p, s)).toBeLessThan(0);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('(4) re-allocating from any cut equals the full run', () => {
    const cutArb: fc.Arbitrary<EntryKey> = fc.record({
      atMs: fc.integer({ min: -1, max: 16 }).map((s) => T0 + s * 1000),
      ref: fc.oneof(refArb, fc.constant(ref('', ''))),
    });
    fc.assert(
      fc.property(
        streamArb,
        cutArb,
        fc.nat(),
        fc.boolean(),
        ({ purchases, sales }, randomCut, pick, onEntry) => {
          const entries = [...purchases, ...sales];
          const chosen = entries[pick % Math.max(1, entries.length)];
          const cut: EntryKey = onEntry && chosen ? { atMs: chosen.atMs, ref: chosen.ref } : randomCut;
          const full = allocateStream(purchases, sales);
          const isBefore = new Map(sales.map((s) => [refKey(s.ref), compareEntries(s, cut) < 0]));
          const early = <T extends { sale: TradeRef }>(xs: T[], before: boolean): T[] =>
            xs.filter((x) => isBefore.get(refKey(x.sale)) === before);

          const opening = openingStateAt(purchases, { allocations: early(full.allocations, true) }, cut);
          const inc = allocateStream(shuffle(purchases, pick), shuffle(sales, pick + 1), opening);
          expect([...early(full.allocations, true), ...inc.allocations]).toEqual(full.allocations);
          expect(inc.unsourced).toEqual(early(full.unsourced, false));
          expect(inc.discrepancies).toEqual(early(full.discrepancies, false));
          expect(inc.remaining).toEqual(full.remaining);
        },
      ),
      { numRuns: 500 },
    );
  });
});
