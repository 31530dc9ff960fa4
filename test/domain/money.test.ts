import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  exTaxFromInclusive,
  formatKg,
  formatMoney,
  formatQuantity,
  formatRate,
  formatUnitPrice,
  lineAmountFen,
  parseKg,
  parseMoney,
  parseQuantity,
  parseRate,
  parseUnitPrice,
  roundHalfUpDiv,
  taxOf,
} from '../../src/domain/money';

const MAX_FEN = 10n ** 17n - 1n; // 15 integer digits + 2 decimals

describe('parseMoney / formatMoney', () => {
  it('parses CNY strings into fen', () => {
    expect(parseMoney('30245.25')).toBe(3024525n);
    expect(parseMoney('7')).toBe(700n);
    expect(parseMoney('0.5')).toBe(50n);
    expect(parseMoney('0.05')).toBe(5n);
    expect(parseMoney('0')).toBe(0n);
    expect(parseMoney('999999999999999.99')).toBe(MAX_FEN);
    expect(parseMoney('-0.05', { allowNegative: true })).toBe(-5n);
    expect(parseMoney('-0.00', { allowNegative: true })).toBe(0n);
  });

  it('rejects everything that is not a strict decimal string', () => {
    for (const s of [
      '1e3',
      '+1',
      '1.234',
      ' 1',
      '1 ',
      '01',
      '007',
      '00.5',
      '',
      '.5',
      '5.',
      '1,000',
      '１',
      '0x10',
      'NaN',
      'Infinity',
      '1000000000000000',
      '-',
      '--1',
    ]) {
      expect(parseMoney(s, { allowNegative: true }), s).toBeNull();
    }
    expect(parseMoney('-1')).toBeNull();
    expect(parseMoney('-0.01')).toBeNull();
  });

  it('formats with exactly two decimals', () => {
    expect(formatMoney(3024525n)).toBe('30245.25');
    expect(formatMoney(-5n)).toBe('-0.05');
    expect(formatMoney(700n)).toBe('7.00');
    expect(formatMoney(0n)).toBe('0.00');
    expect(formatMoney(-123456n)).toBe('-1234.56');
  });

  it('round-trips every fen amount (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -MAX_FEN, max: MAX_FEN }), (fen) => {
        const s = formatMoney(fen);
        expect(parseMoney(s, { allowNegative: true })).toBe(fen);
        expect(formatMoney(parseMoney(s, { allowNegative: true })!)).toBe(s);
      }),
    );
  });
});

describe('parseQuantity / formatKg', () => {
  it('parses kg and t into grams at most gram precision', () => {
    expect(parseQuantity('12.345', 't')).toBe(12_345_000n);
    expect(parseQuantity('0.000001', 't')).toBe(1n);
    expect(parseQuantity('1234.567', 'kg')).toBe(1_234_567n);
    expect(parseQuantity('5', 'kg')).toBe(5_000n);
    expect(parseKg('0.005')).toBe(5n);
    expect(parseQuantity('0.0000001', 't')).toBeNull();
    expect(parseQuantity('1.2345', 'kg')).toBeNull();
    expect(parseQuantity('-1', 'kg')).toBeNull();
    expect(parseQuantity('1e3', 'kg')).toBeNull();
    expect(parseQuantity('01', 't')).toBeNull();
  });

  it('formats kg with three decimals and t without surplus zeros', () => {
    expect(formatKg(1_234_567n)).toBe('1234.567');
    expect(formatKg(5n)).toBe('0.005');
    expect(formatKg(-5n)).toBe('-0.005');
    expect(formatQuantity(12_345_000n, 't')).toBe('12.345');
    expect(formatQuantity(1n, 't')).toBe('0.000001');
    expect(formatQuantity(5_000n, 'kg')).toBe('5.000');
  });

  it('round-trips grams in kg and in t (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 18n - 1n }), (grams) => {
        expect(parseKg(formatKg(grams))).toBe(grams);
        expect(parseQuantity(formatQuantity(grams, 't'), 't')).toBe(grams);
        expect(parseQuantity(formatQuantity(grams, 'kg'), 'kg')).toBe(grams);
      }),
    );
  });
});

describe('roundHalfUpDiv', () => {
  it('rounds halves away from zero, symmetrically', () => {
    expect(roundHalfUpDiv(1n, 2n)).toBe(1n);
    expect(roundHalfUpDiv(-1n, 2n)).toBe(-1n);
    expect(roundHalfUpDiv(1n, -2n)).toBe(-1n);
    expect(roundHalfUpDiv(-1n, -2n)).toBe(1n);
    expect(roundHalfUpDiv(14n, 10n)).toBe(1n);
    expect(roundHalfUpDiv(15n, 10n)).toBe(2n);
    expect(roundHalfUpDiv(-15n, 10n)).toBe(-2n);
    expect(roundHalfUpDiv(-16n, 10n)).toBe(-2n);
    expect(roundHalfUpDiv(-14n, 10n)).toBe(-1n);
    expect(roundHalfUpDiv(0n, 7n)).toBe(0n);
    expect(() => roundHalfUpDiv(1n, 0n)).toThrow(RangeError);
  });

  it('is the nearest integer, ties away from zero (property, exact rational check)', () => {
    const nonZero = fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }).filter((d) => d !== 0n);
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 24n), max: 10n ** 24n }), nonZero, (n, d) => {
        const r = roundHalfUpDiv(n, d);
        const absD = d < 0n ? -d : d;
        // |n/d − r| ≤ 1/2  ⇔  2·|n − r·d| ≤ |d|
        const err = n - r * d;
        const twiceErr = 2n * (err < 0n ? -err : err);
        expect(twiceErr <= absD).toBe(true);
        if (twiceErr === absD) {
          // a tie: r lies on the far side of n/d from zero, i.e. |r·d| > |n|
          const rd = r * d;
          expect((rd < 0n ? -rd : rd) > (n < 0n ? -n : n)).toBe(true);
        }
        expect(roundHalfUpDiv(-n, d)).toBe(-r);
      }),
    );
  });
});

describe('unit prices and line amounts', () => {
  it('parses prices with up to four decimals', () => {
    expect(parseUnitPrice('2200.00')).toEqual({ tenThousandths: 22_000_000n });
    expect(parseUnitPrice('2.355')).toEqual({ tenThousandths: 23_550n });
    expect(parseUnitPrice('0.0001')).toEqual({ tenThousandths: 1n });
    expect(parseUnitPrice('0')).toEqual({ tenThousandths: 0n });
    expect(parseUnitPrice('1.23456')).toBeNull();
    expect(parseUnitPrice('-1')).toBeNull();
    expect(parseUnitPrice('1e2')).toBeNull();
    expect(formatUnitPrice({ tenThousandths: 22_000_000n })).toBe('2200.00');
    expect(formatUnitPrice({ tenThousandths: 23_550n })).toBe('2.355');
  });

  it('computes quantity × price half-up to the fen', () => {
    const p = (s: string) => parseUnitPrice(s)!;
    // 12.345 t × ¥2,200.00/t = ¥27,159.00
    expect(lineAmountFen(parseQuantity('12.345', 't')!, 't', p('2200.00'))).toBe(2_715_900n);
    // 0.005 kg × ¥1.00/kg = ¥0.005 → ¥0.01 (half-up)
    expect(lineAmountFen(parseQuantity('0.005', 'kg')!, 'kg', p('1.00'))).toBe(1n);
    // 0.004 kg × ¥1.00/kg = ¥0.004 → ¥0.00
    expect(lineAmountFen(parseQuantity('0.004', 'kg')!, 'kg', p('1.00'))).toBe(0n);
    // 1234.567 kg × ¥2.355/kg = ¥2,907.405285 → ¥2,907.41
    expect(lineAmountFen(parseQuantity('1234.567', 'kg')!, 'kg', p('2.355'))).toBe(290_741n);
    // 0.000001 t × ¥60,000/t = ¥0.06
    expect(lineAmountFen(1n, 't', p('60000'))).toBe(6n);
  });

  it('agrees between kg and t for the same goods and price (property)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 12n }),
        fc.bigInt({ min: 0n, max: 10n ** 9n }),
        (g, perKg) => {
          // a price per kg is 1,000 times smaller than the same price per t
          expect(lineAmountFen(g, 'kg', { tenThousandths: perKg })).toBe(
            lineAmountFen(g, 't', { tenThousandths: perKg * 1000n }),
          );
        },
      ),
    );
  });
});

describe('rates and tax', () => {
  it('parses and formats rates in [0, 1)', () => {
    expect(parseRate('0.03')).toEqual({ basisPoints: 300n });
    expect(parseRate('0.13')).toEqual({ basisPoints: 1300n });
    expect(parseRate('0')).toEqual({ basisPoints: 0n });
    expect(parseRate('0.01')).toEqual({ basisPoints: 100n });
    expect(parseRate('0.0050')).toEqual({ basisPoints: 50n });
    for (const s of ['1', '1.00', '0.00001', '.03', '3%', '-0.03', '0.03 ', '00.03']) {
      expect(parseRate(s), s).toBeNull();
    }
    expect(formatRate({ basisPoints: 300n })).toBe('0.03');
    expect(formatRate({ basisPoints: 0n })).toBe('0.00');
    expect(formatRate({ basisPoints: 50n })).toBe('0.005');
  });

  it('computes tax and the amount excluding tax half-up', () => {
    const r3 = parseRate('0.03')!;
    expect(exTaxFromInclusive(2_715_900n, r3)).toBe(2_636_796n); // 27159.00 / 1.03 = 26367.961…
    expect(taxOf(2_636_796n, r3)).toBe(79_104n); // 791.0388 → 791.04
    expect(taxOf(-2_636_796n, r3)).toBe(-79_104n);
    expect(taxOf(50n, parseRate('0.01')!)).toBe(1n); // 0.5 fen → 1 fen
    expect(taxOf(-50n, parseRate('0.01')!)).toBe(-1n);
    expect(exTaxFromInclusive(10_100n, parseRate('0.01')!)).toBe(10_000n);
    expect(exTaxFromInclusive(12_345n, parseRate('0')!)).toBe(12_345n);
  });

  it('ex + tax stays within a fen of the inclusive total (property)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 15n }),
        fc.constantFrom('0', '0.01', '0.03', '0.13'),
        (t, rs) => {
          const rate = parseRate(rs)!;
          const ex = exTaxFromInclusive(t, rate);
          const diff = ex + taxOf(ex, rate) - t;
          expect(diff >= -1n && diff <= 1n).toBe(true);
        },
      ),
    );
  });
});
