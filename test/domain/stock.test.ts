import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  allocateStream,
  refKey,
  type Sale,
  type StreamEntry,
  type TradeRef,
} from '../../src/domain/allocation';
import { monthlyStock, monthOf } from '../../src/domain/stock';

const ref = (tradeId: string): TradeRef => ({ platform: 'jmrr', tradeId });
const kg = (n: number): bigint => BigInt(n) * 1000n;
/** An instant given as Asia/Shanghai wall-clock time. */
const cst = (y: number, m: number, d: number, h = 12): number => Date.UTC(y, m - 1, d, h - 8);
const entry = (id: string, atMs: number, kilos: number): StreamEntry => ({
  ref: ref(id),
  atMs,
  quantityG: kg(kilos),
});
const unsourcedOf = (purchases: StreamEntry[], sales: StreamEntry[]): Map<string, bigint> => {
  const r = allocateStream(
    purchases,
    sales.map((s) => ({ ...s, claims: [] })),
  );
  return new Map(r.unsourced.map((u) => [refKey(u.sale), u.quantityG]));
};

describe('monthOf', () => {
  it('uses the Asia/Shanghai calendar month (UTC+8)', () => {
    expect(monthOf(Date.UTC(2026, 0, 31, 15, 59, 59, 999))).toBe('2026-01');
    expect(monthOf(Date.UTC(2026, 0, 31, 16))).toBe('2026-02');
    expect(monthOf(Date.UTC(2025, 11, 31, 16))).toBe('2026-01');
    expect(monthOf(Date.UTC(2026, 9, 1, 0, 15))).toBe('2026-10');
    expect(monthOf(0)).toBe('1970-01');
  });

  it('rejects instants that are not integer milliseconds', () => {
    expect(() => monthOf(Number.NaN)).toThrow(RangeError);
    expect(() => monthOf(1.5)).toThrow(RangeError);
  });
});

describe('monthlyStock — worked example', () => {
  // December: buy 10, sell 4 → 6 in stock. January: buy 100, sell 30 → 76.
  // February: buy 50, sell 200 → 126 from stock, 74 unsourced → 0. March: nothing.
  const purchases = [
    entry('P0', cst(2025, 12, 5), 10),
    entry('P1', cst(2026, 1, 3), 100),
    entry('P2', cst(2026, 2, 1, 0), 50), // 00:00 in Shanghai is still February
  ];
  const sales = [
    entry('S0', cst(2025, 12, 20), 4),
    entry('S1', cst(2026, 1, 31, 23), 30),
    entry('S2', cst(2026, 2, 28), 200),
    entry('S9', cst(2026, 4, 2), 1),
  ];

  it('balances each month: opening + in − (out − unsourced out) = closing', () => {
    const unsourced = unsourcedOf(purchases, sales);
    expect(unsourced.get('jmrr:S2')).toBe(kg(74));
    expect(monthlyStock(purchases, sales, unsourced, '2026-01', '2026-03')).toEqual([
      { period: '2026-01', openingG: kg(6), inG: kg(100), outG: kg(30), unsourcedOutG: 0n, closingG: kg(76) },
      {
        period: '2026-02',
        openingG: kg(76),
        inG: kg(50),
        outG: kg(200),
        unsourcedOutG: kg(74),
        closingG: 0n,
      },
      { period: '2026-03', openingG: 0n, inG: 0n, outG: 0n, unsourcedOutG: 0n, closingG: 0n },
    ]);
  });

  it('crosses a year boundary and includes months without trades', () => {
    const rows = monthlyStock(purchases, sales, unsourcedOf(purchases, sales), '2025-11', '2026-01');
    expect(rows.map((r) => [r.period, r.openingG, r.closingG])).toEqual([
      ['2025-11', 0n, 0n],
      ['2025-12', 0n, kg(6)],
      ['2026-01', kg(6), kg(76)],
    ]);
  });

  it('rejects unsourced quantities that do not fit the stream, and bad periods', () => {
    expect(() => monthlyStock(purchases, sales, new Map(), '2026-01', '2026-03')).toThrow(
      /negative stock in 2026-02/,
    );
    expect(() =>
      monthlyStock(purchases, sales, new Map([['jmrr:S1', kg(31)]]), '2026-01', '2026-03'),
    ).toThrow(RangeError);
    expect(() => monthlyStock(purchases, sales, new Map(), '2026-3', '2026-03')).toThrow(/YYYY-MM/);
    expect(() => monthlyStock(purchases, sales, new Map(), '2026-13', '2026-13')).toThrow(/YYYY-MM/);
    expect(() => monthlyStock(purchases, sales, new Map(), '2026-04', '2026-03')).toThrow(/after/);
    expect(() => monthlyStock([purchases[0]!, purchases[0]!], [], new Map(), '2026-01', '2026-01')).toThrow(
      /duplicate/,
    );
  });
});

const DAY = 86_400_000;
const T0 = Date.UTC(2025, 11, 31, 16); // 2026-01-01T00:00+08:00

const streamArb = fc
  .record({
    entries: fc.array(
      fc.record({
        isSale: fc.boolean(),
        // Up to ~5 months, often right at a Shanghai midnight (month boundaries included).
        atMs: fc.oneof(
          fc.integer({ min: 0, max: 150 }).map((d) => T0 + d * DAY),
          fc.integer({ min: 0, max: 150 * DAY }).map((x) => T0 + x),
        ),
        quantityG: fc.bigInt({ min: 0n, max: 5_000n }),
        claim: fc.option(fc.record({ target: fc.nat(), quantityG: fc.bigInt({ min: 0n, max: 5_000n }) })),
      }),
      { maxLength: 40 },
    ),
  })
  .map(({ entries }) => {
    const purchases: StreamEntry[] = [];
    const sales: Sale[] = [];
    entries.forEach((e, i) => {
      const base = { ref: ref(`T${i}`), atMs: e.atMs, quantityG: e.quantityG };
      if (!e.isSale) purchases.push(base);
      else {
        const claims = e.claim
          ? [{ upstream: ref(`T${e.claim.target % entries.length}`), quantityG: e.claim.quantityG }]
          : [];
        sales.push({ ...base, claims });
      }
    });
    return { purchases, sales };
  });

describe('monthlyStock — properties', () => {
  it('(6) every month balances, chains to the next, never goes negative, and ends with what is left', () => {
    fc.assert(
      fc.property(streamArb, fc.integer({ min: 0, max: 5 }), ({ purchases, sales }, startOffset) => {
        const r = allocateStream(purchases, sales);
        const unsourced = new Map(r.unsourced.map((u) => [refKey(u.sale), u.quantityG]));
        const from = `2026-${String(1 + startOffset).padStart(2, '0')}`;
        const rows = monthlyStock(purchases, sales, unsourced, from, '2026-06');
        expect(rows).toHaveLength(6 - startOffset);
        let prev: bigint | undefined;
        for (const m of rows) {
          expect(m.openingG + m.inG - (m.outG - m.unsourcedOutG)).toBe(m.closingG);
          expect(m.closingG).toBeGreaterThanOrEqual(0n);
          expect(m.unsourcedOutG).toBeLessThanOrEqual(m.outG);
          if (prev !== undefined) expect(m.openingG).toBe(prev);
          prev = m.closingG;
          const inMonth = (e: StreamEntry) => monthOf(e.atMs) === m.period;
          expect(m.inG).toBe(purchases.filter(inMonth).reduce((s, e) => s + e.quantityG, 0n));
          expect(m.outG).toBe(sales.filter(inMonth).reduce((s, e) => s + e.quantityG, 0n));
        }
        // Everything falls before July 2026, so the last closing is what no sale has taken.
        expect(rows.at(-1)?.closingG).toBe(r.remaining.reduce((s, x) => s + x.quantityG, 0n));
        if (startOffset === 0) expect(rows[0]?.openingG).toBe(0n);
      }),
      { numRuns: 300 },
    );
  });
});
