import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sellerKindOf } from '../../src/chains/chain.service';
import {
  allocateStream,
  refKey,
  type Sale,
  type StreamEntry,
  type TradeRef,
} from '../../src/domain/allocation';
import { computeOrigins, formatOrigins, type OriginNode, type SellerKind } from '../../src/domain/origins';

const ref = (tradeId: string): TradeRef => ({ platform: 'jmrr', tradeId });
const kg = (n: number): bigint => BigInt(n) * 1000n;

/** A graph from nodes written as [id, kind, quantity g, supplies [id, g][], unsourced g]. */
function graph(
  nodes: [string, SellerKind, bigint, [string, bigint][], bigint][],
): (r: TradeRef) => OriginNode | undefined {
  const byKey = new Map<string, OriginNode>(
    nodes.map(([id, sellerKind, quantityG, supplies, unsourcedG]) => [
      refKey(ref(id)),
      {
        ref: ref(id),
        sellerKind,
        quantityG,
        supplies: supplies.map(([p, g]) => ({ purchase: ref(p), quantityG: g })),
        unsourcedG,
      },
    ]),
  );
  return (r) => byKey.get(refKey(r));
}

describe('computeOrigins — worked examples', () => {
  // Persons sell to a station, a factory sells its own scrap to it; the station sells on to a
  // sorting centre, which sells to a steel mill.
  const get = graph([
    ['P1', 'natural_person', kg(600), [], 0n],
    ['P2', 'natural_person', kg(300), [], 0n],
    ['G1', 'generator_enterprise', kg(400), [['X', kg(400)]], 0n],
    [
      'S1',
      'trading_enterprise',
      kg(1000),
      [
        ['P1', kg(600)],
        ['G1', kg(400)],
      ],
      0n,
    ],
    ['S2', 'trading_enterprise', kg(500), [['P2', kg(300)]], kg(200)],
    [
      'C1',
      'trading_enterprise',
      kg(900),
      [
        ['S1', kg(500)],
        ['S2', kg(400)],
      ],
      0n,
    ],
    ['M1', 'generator_enterprise', kg(900), [['C1', kg(900)]], 0n],
  ]);

  it('a natural person’s or generator’s sale is entirely theirs, whatever its supplies', () => {
    expect(computeOrigins(ref('P1'), get)).toEqual({
      naturalPersonG: kg(600),
      enterpriseG: 0n,
      unsourcedG: 0n,
      truncated: false,
    });
    expect(computeOrigins(ref('G1'), get)).toEqual({
      naturalPersonG: 0n,
      enterpriseG: kg(400),
      unsourcedG: 0n,
      truncated: false,
    });
  });

  it('a trading enterprise’s sale follows its supplies; its unsourced part stays unsourced', () => {
    expect(computeOrigins(ref('S1'), get)).toMatchObject({ naturalPersonG: kg(600), enterpriseG: kg(400) });
    expect(computeOrigins(ref('S2'), get)).toMatchObject({ naturalPersonG: kg(300), unsourcedG: kg(200) });
  });

  it('traces proportionally through several trading enterprises', () => {
    // 500 kg of S1 (60% person, 40% enterprise) + 400 kg of S2 (60% person, 40% unsourced).
    expect(computeOrigins(ref('C1'), get)).toEqual({
      naturalPersonG: kg(540),
      enterpriseG: kg(200),
      unsourcedG: kg(160),
      truncated: false,
    });
    expect(formatOrigins(computeOrigins(ref('C1'), get))).toEqual({
      natural_person_kg: '540.000',
      enterprise_kg: '200.000',
      unsourced_kg: '160.000',
    });
  });

  it('rounds to whole grams by largest remainder, ties in the order person, enterprise, unsourced', () => {
    const thirds = graph([
      ['P', 'natural_person', 10n, [], 0n],
      ['G', 'generator_enterprise', 10n, [], 0n],
      [
        'Q',
        'trading_enterprise',
        30n,
        [
          ['P', 10n],
          ['G', 10n],
        ],
        10n,
      ],
      ['R', 'trading_enterprise', 10n, [['Q', 10n]], 0n],
      [
        'Q2',
        'trading_enterprise',
        30n,
        [
          ['P', 10n],
          ['G', 20n],
        ],
        0n,
      ],
      ['R2', 'trading_enterprise', 10n, [['Q2', 10n]], 0n],
    ]);
    // 10/3 g each: floors 3 + 3 + 3, the last gram to the first of the tied parts.
    expect(computeOrigins(ref('R'), thirds)).toMatchObject({
      naturalPersonG: 4n,
      enterpriseG: 3n,
      unsourcedG: 3n,
    });
    // 3.333 g and 6.667 g: the larger remainder gets the gram.
    expect(computeOrigins(ref('R2'), thirds)).toMatchObject({
      naturalPersonG: 3n,
      enterpriseG: 7n,
      unsourcedG: 0n,
    });
  });

  it('sums supplies naming the same purchase and ignores their order', () => {
    const a = graph([
      ['P', 'natural_person', 7n, [], 0n],
      ['G', 'generator_enterprise', 5n, [], 0n],
      [
        'R',
        'trading_enterprise',
        12n,
        [
          ['P', 3n],
          ['G', 5n],
          ['P', 4n],
        ],
        0n,
      ],
    ]);
    expect(computeOrigins(ref('R'), a)).toMatchObject({
      naturalPersonG: 7n,
      enterpriseG: 5n,
      unsourcedG: 0n,
    });
  });

  it('counts an unknown supplying purchase as unsourced', () => {
    const a = graph([
      ['P', 'natural_person', 5n, [], 0n],
      [
        'R',
        'trading_enterprise',
        10n,
        [
          ['P', 5n],
          ['GONE', 5n],
        ],
        0n,
      ],
    ]);
    expect(computeOrigins(ref('R'), a)).toMatchObject({ naturalPersonG: 5n, unsourcedG: 5n });
    expect(() => computeOrigins(ref('NOPE'), a)).toThrow(/unknown trade jmrr:NOPE/);
  });

  it('a trading sale with nothing recorded behind it is unsourced', () => {
    const a = graph([['R', 'trading_enterprise', 10n, [], 0n]]);
    expect(computeOrigins(ref('R'), a)).toMatchObject({ unsourcedG: 10n });
  });

  it('terminates on a cycle: the edge closing it counts as unsourced', () => {
    // Inconsistent data (allocation never yields this): A is supplied by B, B half by A.
    const cyclic = graph([
      ['P', 'natural_person', kg(50), [], 0n],
      ['A', 'trading_enterprise', kg(100), [['B', kg(100)]], 0n],
      [
        'B',
        'trading_enterprise',
        kg(100),
        [
          ['A', kg(50)],
          ['P', kg(50)],
        ],
        0n,
      ],
    ]);
    expect(computeOrigins(ref('A'), cyclic)).toEqual({
      naturalPersonG: kg(50),
      enterpriseG: 0n,
      unsourcedG: kg(50),
      truncated: false,
    });
    const self = graph([['A', 'trading_enterprise', 8n, [['A', 8n]], 0n]]);
    expect(computeOrigins(ref('A'), self)).toMatchObject({ unsourcedG: 8n });
  });

  it('shares a sub-chain reached twice (diamond)', () => {
    const diamond = graph([
      ['P', 'natural_person', 40n, [], 0n],
      ['G', 'generator_enterprise', 10n, [], 0n],
      [
        'C',
        'trading_enterprise',
        60n,
        [
          ['P', 40n],
          ['G', 10n],
        ],
        10n,
      ],
      ['A', 'trading_enterprise', 30n, [['C', 30n]], 0n],
      ['B', 'trading_enterprise', 30n, [['C', 30n]], 0n],
      [
        'R',
        'trading_enterprise',
        60n,
        [
          ['A', 30n],
          ['B', 30n],
        ],
        0n,
      ],
    ]);
    expect(computeOrigins(ref('R'), diamond)).toMatchObject({
      naturalPersonG: 40n,
      enterpriseG: 10n,
      unsourcedG: 10n,
    });
  });

  it('beyond maxDepth the quantity is unsourced and the result is truncated', () => {
    const chain = graph([
      ['P', 'natural_person', 9n, [], 0n],
      ['R2', 'trading_enterprise', 9n, [['P', 9n]], 0n],
      ['R1', 'trading_enterprise', 9n, [['R2', 9n]], 0n],
      ['R0', 'trading_enterprise', 9n, [['R1', 6n]], 3n],
    ]);
    // P is at depth 3.
    expect(computeOrigins(ref('R0'), chain, { maxDepth: 3 })).toEqual({
      naturalPersonG: 6n,
      enterpriseG: 0n,
      unsourcedG: 3n,
      truncated: false,
    });
    expect(computeOrigins(ref('R0'), chain, { maxDepth: 2 })).toEqual({
      naturalPersonG: 0n,
      enterpriseG: 0n,
      unsourcedG: 9n,
      truncated: true,
    });
    expect(computeOrigins(ref('R0'), chain, { maxDepth: 0 })).toMatchObject({
      unsourcedG: 9n,
      truncated: true,
    });
    expect(computeOrigins(ref('P'), chain, { maxDepth: 0 })).toMatchObject({
      naturalPersonG: 9n,
      truncated: false,
    });
    expect(() => computeOrigins(ref('R0'), chain, { maxDepth: -1 })).toThrow(RangeError);
    expect(() => computeOrigins(ref('R0'), chain, { maxDepth: 1.5 })).toThrow(RangeError);
  });

  it('follows a very long chain without overflowing the stack', () => {
    const n = 20_000;
    const nodes: [string, SellerKind, bigint, [string, bigint][], bigint][] = [
      ['N0', 'natural_person', 7n, [], 0n],
    ];
    for (let i = 1; i <= n; i++) nodes.push([`N${i}`, 'trading_enterprise', 7n, [[`N${i - 1}`, 7n]], 0n]);
    expect(computeOrigins(ref(`N${n}`), graph(nodes))).toMatchObject({
      naturalPersonG: 7n,
      truncated: false,
    });
  });
});

describe('formatOrigins', () => {
  it('writes grams as kg with exactly 3 decimals, without floats', () => {
    expect(formatOrigins({ naturalPersonG: 1_234_567n, enterpriseG: 5n, unsourcedG: 0n })).toEqual({
      natural_person_kg: '1234.567',
      enterprise_kg: '0.005',
      unsourced_kg: '0.000',
    });
    expect(
      formatOrigins({ naturalPersonG: 9_007_199_254_740_993_001n, enterpriseG: 1000n, unsourcedG: 10n }),
    ).toEqual({
      natural_person_kg: '9007199254740993.001',
      enterprise_kg: '1.000',
      unsourced_kg: '0.010',
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Properties over networks built with the real allocation: parties trade one material over time,
// each enterprise's stream is allocated, and every trade becomes a node.

const KINDS: SellerKind[] = ['natural_person', 'generator_enterprise', 'trading_enterprise'];

interface Network {
  parties: SellerKind[];
  trades: {
    seller: number;
    buyer: number;
    at: number;
    quantityG: bigint;
    claim: { target: number; quantityG: bigint } | null;
  }[];
}

const networkArb = (kinds: readonly SellerKind[]): fc.Arbitrary<Network> =>
  fc.record({
    // Trading enterprises twice as likely, so that chains get long.
    parties: fc.array(fc.constantFrom(...kinds, ...kinds.filter((k) => k === 'trading_enterprise')), {
      minLength: 2,
      maxLength: 5,
    }),
    trades: fc.array(
      fc.record({
        seller: fc.nat(),
        buyer: fc.nat(),
        at: fc.integer({ min: 0, max: 30 }),
        quantityG: fc.bigInt({ min: 0n, max: 1000n }),
        claim: fc.option(fc.record({ target: fc.nat(), quantityG: fc.bigInt({ min: 0n, max: 1000n }) })),
      }),
      { maxLength: 50 },
    ),
  });

function buildNetwork({ parties, trades }: Network) {
  // Buyers are enterprises: pick among the parties that are not natural persons.
  const enterprises = parties.map((k, i) => [k, i] as const).filter(([k]) => k !== 'natural_person');
  const ts = trades.flatMap((t, i) => {
    const buyer = enterprises[t.buyer % Math.max(1, enterprises.length)];
    if (!buyer) return [];
    return [{ ...t, ref: ref(`T${i}`), seller: t.seller % parties.length, buyer: buyer[1] }];
  });
  const nodes = new Map<string, OriginNode>();
  for (let party = 0; party < parties.length; party++) {
    const purchases: StreamEntry[] = ts
      .filter((t) => t.buyer === party)
      .map((t) => ({ ref: t.ref, atMs: t.at, quantityG: t.quantityG }));
    const sales: Sale[] = ts
      .filter((t) => t.seller === party)
      .map((t) => ({
        ref: t.ref,
        atMs: t.at,
        quantityG: t.quantityG,
        claims: t.claim
          ? [{ upstream: ref(`T${t.claim.target % (trades.length + 1)}`), quantityG: t.claim.quantityG }]
          : [],
      }));
    const r = allocateStream(purchases, sales);
    for (const s of sales) {
      const k = refKey(s.ref);
      nodes.set(k, {
        ref: s.ref,
        quantityG: s.quantityG,
        sellerKind: parties[party]!,
        supplies: r.allocations
          .filter((a) => refKey(a.sale) === k)
          .map((a) => ({ purchase: a.purchase, quantityG: a.quantityG })),
        unsourcedG: r.unsourced.find((u) => refKey(u.sale) === k)?.quantityG ?? 0n,
      });
    }
  }
  return { nodes, get: (r: TradeRef) => nodes.get(refKey(r)) };
}

/** The same mass balance in floating point, for an approximate cross-check. */
function floatShares(
  node: OriginNode,
  get: (r: TradeRef) => OriginNode | undefined,
): [number, number, number] {
  if (node.sellerKind === 'natural_person') return [1, 0, 0];
  if (node.sellerKind === 'generator_enterprise') return [0, 1, 0];
  const total = node.supplies.reduce((s, x) => s + Number(x.quantityG), Number(node.unsourcedG));
  if (total === 0) return [0, 0, 1];
  const acc: [number, number, number] = [0, 0, Number(node.unsourcedG) / total];
  for (const s of node.supplies) {
    const up = floatShares(get(s.purchase)!, get);
    for (let i = 0; i < 3; i++) acc[i]! += (up[i]! * Number(s.quantityG)) / total;
  }
  return acc;
}

describe('computeOrigins — properties', () => {
  it('(5) the parts sum exactly to the root quantity and agree with a float model', () => {
    fc.assert(
      fc.property(networkArb(KINDS), (net) => {
        const { nodes, get } = buildNetwork(net);
        for (const node of nodes.values()) {
          const o = computeOrigins(node.ref, get);
          expect(o.naturalPersonG + o.enterpriseG + o.unsourcedG).toBe(node.quantityG);
          expect(o.truncated).toBe(false);
          const shares = floatShares(node, get);
          const exact = [o.naturalPersonG, o.enterpriseG, o.unsourcedG];
          for (let i = 0; i < 3; i++) {
            expect(Math.abs(Number(exact[i]) - shares[i]! * Number(node.quantityG))).toBeLessThanOrEqual(
              1.000001,
            );
          }
          // A depth bound at least as long as any chain changes nothing.
          expect(computeOrigins(node.ref, get, { maxDepth: nodes.size })).toEqual(o);
          const bounded = computeOrigins(node.ref, get, { maxDepth: 1 });
          expect(bounded.naturalPersonG + bounded.enterpriseG + bounded.unsourcedG).toBe(node.quantityG);
          // Truncation only moves quantity to unsourced (up to a gram of rounding).
          expect(bounded.unsourcedG).toBeGreaterThanOrEqual(o.unsourcedG - 1n);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('(5) without trading enterprises, origins are 100% natural person or enterprise', () => {
    fc.assert(
      fc.property(networkArb(['natural_person', 'generator_enterprise']), (net) => {
        const { nodes, get } = buildNetwork(net);
        for (const node of nodes.values()) {
          const o = computeOrigins(node.ref, get);
          const whole = node.sellerKind === 'natural_person' ? o.naturalPersonG : o.enterpriseG;
          expect(whole).toBe(node.quantityG);
          expect(o.unsourcedG).toBe(0n);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('a trading enterprise that bought only from natural persons and sold no more than it bought passes them through', () => {
    fc.assert(
      fc.property(
        fc.array(fc.bigInt({ min: 1n, max: 10_000n }), { minLength: 1, maxLength: 10 }),
        fc.nat(),
        (buys, cut) => {
          const bought = buys.reduce((s, q) => s + q, 0n);
          const sold = (BigInt(cut) % bought) + 1n;
          const nodes = new Map<string, OriginNode>();
          buys.forEach((q, i) => {
            nodes.set(`jmrr:B${i}`, {
              ref: ref(`B${i}`),
              quantityG: q,
              sellerKind: 'natural_person',
              supplies: [],
              unsourcedG: 0n,
            });
          });
          const r = allocateStream(
            buys.map((q, i) => ({ ref: ref(`B${i}`), atMs: i, quantityG: q })),
            [{ ref: ref('S'), atMs: buys.length, quantityG: sold, claims: [] }],
          );
          nodes.set('jmrr:S', {
            ref: ref('S'),
            quantityG: sold,
            sellerKind: 'trading_enterprise',
            supplies: r.allocations.map((a) => ({ purchase: a.purchase, quantityG: a.quantityG })),
            unsourcedG: 0n,
          });
          expect(computeOrigins(ref('S'), (x) => nodes.get(refKey(x)))).toEqual({
            naturalPersonG: sold,
            enterpriseG: 0n,
            unsourcedG: 0n,
            truncated: false,
          });
        },
      ),
    );
  });
});

describe('sellerKindOf (CONTRACT.md 3: role generator, or any enterprise not a recycler/sorting centre)', () => {
  it('classifies by kind and roles, the generator role first', () => {
    const kind = (seller_kind: string, seller_roles: string[]) => sellerKindOf({ seller_kind, seller_roles });
    expect(kind('natural_person', [])).toBe('natural_person');
    expect(kind('enterprise', ['recycler'])).toBe('trading_enterprise');
    expect(kind('enterprise', ['sorting_center', 'hazardous_licensed'])).toBe('trading_enterprise');
    expect(kind('enterprise', ['generator'])).toBe('generator_enterprise');
    expect(kind('enterprise', ['recycler', 'generator'])).toBe('generator_enterprise');
    expect(kind('enterprise', ['utilizer'])).toBe('generator_enterprise');
    expect(kind('enterprise', [])).toBe('generator_enterprise');
  });
});
