import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalInvoiceNo,
  divisionCovers,
  invoiceKey,
  isValidDivision,
  isValidPlate,
  isValidResidentId,
  isValidUscc,
  JIANGMEN_DIVISIONS,
  makeResidentId,
  makeUscc,
  maskAccountNo,
  maskResidentId,
  parseInvoiceNumber,
  residentIdCheckChar,
  residentIdDivision,
  USCC_ALPHABET,
  usccCheckChar,
} from '../../src/domain/ids';

const usccChar = fc.constantFrom(...USCC_ALPHABET);
const digit = fc.constantFrom(...'0123456789');
const str = (arb: fc.Arbitrary<string>, n: number) =>
  fc.array(arb, { minLength: n, maxLength: n }).map((a) => a.join(''));

/** A valid USCC: computed check character over random body characters. */
const validUscc = fc
  .tuple(str(usccChar, 2), str(digit, 6), str(usccChar, 9))
  .map(([a, b, c]) => makeUscc(a + b + c));

/** A valid resident id: random address and order code, a real birth date from 1900 to 2099. */
const validResidentId = fc
  .tuple(
    str(digit, 6),
    fc.date({
      min: new Date('1900-01-01T00:00:00Z'),
      max: new Date('2099-12-31T00:00:00Z'),
      noInvalidDate: true,
    }),
    str(digit, 3),
  )
  .map(([addr, d, order]) => makeResidentId(addr + d.toISOString().slice(0, 10).replaceAll('-', '') + order));

/** Replaces position i of s with c. */
const corrupt = (s: string, i: number, c: string) => s.slice(0, i) + c + s.slice(i + 1);

describe('USCC (GB 32100)', () => {
  it('accepts the documented example and computes its check character', () => {
    expect(isValidUscc('91350100M000100Y43')).toBe(true);
    expect(usccCheckChar('91350100M000100Y4')).toBe('3');
  });

  it('rejects wrong length, characters outside the alphabet, lower case, non-digit division', () => {
    expect(isValidUscc('91350100M000100Y4')).toBe(false);
    expect(isValidUscc('91350100M000100Y433')).toBe(false);
    expect(isValidUscc('91350100m000100Y43')).toBe(false);
    expect(isValidUscc('9135010OM000100Y43')).toBe(false);
    expect(isValidUscc('')).toBe(false);
    expect(usccCheckChar('91ABCDEFM000100Y4')).toBeNull(); // positions 3–8 must be digits
    expect(usccCheckChar('91350100I000100Y4')).toBeNull(); // I is not in the alphabet
  });

  it('makeUscc appends the check character and refuses bad bodies', () => {
    expect(makeUscc('91350100M000100Y4')).toBe('91350100M000100Y43');
    expect(() => makeUscc('short')).toThrow(RangeError);
  });

  it('detects every single-character change (property)', () => {
    const replacement = fc.constantFrom(...USCC_ALPHABET, 'I', 'O', 'S', 'V', 'Z', 'a', '-', ' ');
    fc.assert(
      fc.property(validUscc, fc.integer({ min: 0, max: 17 }), replacement, (id, i, c) => {
        expect(isValidUscc(id)).toBe(true);
        fc.pre(id[i] !== c);
        expect(isValidUscc(corrupt(id, i, c))).toBe(false);
      }),
    );
  });
});

describe('resident id number (GB 11643)', () => {
  it('accepts the documented example and computes its check character', () => {
    expect(isValidResidentId('11010519491231002X')).toBe(true);
    expect(residentIdCheckChar('11010519491231002')).toBe('X');
    expect(residentIdDivision('11010519491231002X')).toBe('110105');
  });

  it('rejects a lower-case x, wrong length and non-digits', () => {
    expect(isValidResidentId('11010519491231002x')).toBe(false);
    expect(isValidResidentId('11010519491231002')).toBe(false);
    expect(isValidResidentId('1101051949123100 X')).toBe(false);
    expect(residentIdCheckChar('1101051949123100A')).toBeNull();
  });

  it('rejects impossible birth dates even with a correct check character', () => {
    for (const date of ['19490230', '19000229', '20230229', '19491301', '19491200', '18991231']) {
      const first17 = `110105${date}002`;
      expect(isValidResidentId(first17 + residentIdCheckChar(first17)), date).toBe(false);
      expect(() => makeResidentId(first17), date).toThrow(RangeError);
    }
    const leap = '110105' + '20000229' + '002';
    expect(isValidResidentId(leap + residentIdCheckChar(leap))).toBe(true);
  });

  it('detects every single-character change (property)', () => {
    fc.assert(
      fc.property(
        validResidentId,
        fc.integer({ min: 0, max: 17 }),
        fc.constantFrom(...'0123456789Xx'),
        (id, i, c) => {
          expect(isValidResidentId(id)).toBe(true);
          fc.pre(id[i] !== c);
          expect(isValidResidentId(corrupt(id, i, c))).toBe(false);
        },
      ),
    );
  });
});

describe('divisions', () => {
  it('accepts prefecture and county codes under a real province', () => {
    for (const d of JIANGMEN_DIVISIONS) expect(isValidDivision(d.code), d.code).toBe(true);
    expect(isValidDivision('110105')).toBe(true);
    expect(isValidDivision('810001')).toBe(true);
  });

  it('rejects provinces as a whole, unknown provinces and malformed codes', () => {
    for (const c of ['440000', '000000', '990703', '160101', '44070', '4407031', '44O703', '']) {
      expect(isValidDivision(c), c).toBe(false);
    }
  });

  it('lists Jiangmen and its seven divisions', () => {
    expect(JIANGMEN_DIVISIONS.map((d) => d.code)).toEqual([
      '440700',
      '440703',
      '440704',
      '440705',
      '440781',
      '440783',
      '440784',
      '440785',
    ]);
    expect(JIANGMEN_DIVISIONS[0]).toMatchObject({ name_zh: '江门市' });
  });

  it('lets 440700 cover every 4407xx, a county only itself, a province its prefix', () => {
    for (const d of JIANGMEN_DIVISIONS) expect(divisionCovers('440700', d.code)).toBe(true);
    expect(divisionCovers('440700', '440100')).toBe(false);
    expect(divisionCovers('440703', '440703')).toBe(true);
    expect(divisionCovers('440703', '440704')).toBe(false);
    expect(divisionCovers('440703', '440700')).toBe(false);
    expect(divisionCovers('440000', '440785')).toBe(true);
    expect(divisionCovers('440000', '450100')).toBe(false);
    expect(divisionCovers('4407', '440703')).toBe(false);
  });
});

describe('vehicle plates', () => {
  it('accepts regular, new-energy and special-suffix plates', () => {
    for (const p of ['粤J12345', '粤JD12345', '粤JA1B2C', '京A88888', '粤J1234挂', '粤J1234学', '粤JZ1234']) {
      expect(isValidPlate(p), p).toBe(true);
    }
  });

  it('rejects short, long, I/O letters, unknown provinces and separators', () => {
    for (const p of [
      '粤J1234',
      '粤J1234567',
      '粤I12345',
      '粤O12345',
      '粤J1234O',
      '港J12345',
      '粤j12345',
      '粤J-12345',
      'J12345',
      '粤J 12345',
      '粤J123挂',
    ]) {
      expect(isValidPlate(p), p).toBe(false);
    }
  });
});

describe('invoice numbers', () => {
  it('parses fully digitalised and legacy numbers into one canonical key', () => {
    expect(parseInvoiceNumber('26442000000012345678')).toEqual({
      scheme: 'digital',
      number: '26442000000012345678',
    });
    expect(parseInvoiceNumber('4400231130-01234567')).toEqual({
      scheme: 'legacy',
      code: '4400231130',
      number: '01234567',
    });
    expect(canonicalInvoiceNo({ code: '044002311300', number: '01234567' })).toBe('044002311300-01234567');
    expect(canonicalInvoiceNo('4400231130-01234567')).toBe(
      canonicalInvoiceNo({ code: '4400231130', number: '01234567' }),
    );
    expect(invoiceKey({ scheme: 'digital', number: '26442000000012345678' })).toBe('26442000000012345678');
  });

  it('rejects other lengths and forms', () => {
    for (const s of [
      '2644200000001234567',
      '264420000000123456789',
      '44002311-01234567',
      '4400231130-1234567',
      '4400231130 01234567',
      '4400231130-01234567X',
    ]) {
      expect(parseInvoiceNumber(s), s).toBeNull();
    }
    expect(parseInvoiceNumber({ code: '44002311301', number: '01234567' })).toBeNull();
    expect(parseInvoiceNumber({ code: '4400231130', number: '1234567' })).toBeNull();
  });
});

describe('masks', () => {
  it('masks a resident id number as first 6, 8 stars, last 4', () => {
    expect(maskResidentId('440703199001011234')).toBe('440703********1234');
    expect(maskResidentId('11010519491231002X')).toBe('110105********002X');
    expect(maskResidentId('12345')).toBe('*2345');
    expect(maskResidentId('123')).toBe('***');
  });

  it('masks an account number as first 4, stars, last 4; short ones keep only the last 4', () => {
    expect(maskAccountNo('6222020200001234010')).toBe('6222 **** **** 4010');
    expect(maskAccountNo('6222 0202 0000 1234 010')).toBe('6222 **** **** 4010');
    expect(maskAccountNo('wxid12345')).toBe('**** 2345');
    expect(maskAccountNo('123')).toBe('****');
  });
});
