import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeResidentId } from '../../src/domain/ids';
import { auditKeys, auditText, cleanAuditText } from '../../src/repositories/audit.repository';

/** auditText skips the cleaning of strings it cannot change: it must agree with the full cleaning. */
describe('auditText fast path', () => {
  // Strings built from the parts that matter: digit runs (id numbers and near misses), NUL, lone
  // and paired surrogates, letters, separators, and lengths around the 2,048-character cut.
  const part = fc.oneof(
    fc.stringMatching(/^\d{1,20}$/),
    fc.constantFrom('440703199001011234', '44070319900101123X', '91440703MA0000000H', 'np_', '_', '-', '/'),
    fc.constantFrom('\u0000', '\uD800', '\uDC00', '\uD83D\uDE00', 'x', 'X', '甲'),
    fc.string({ maxLength: 8 }),
  );
  const text = fc.oneof(
    fc.array(part, { maxLength: 12 }).map((ps) => ps.join('')),
    fc.integer({ min: 2040, max: 2060 }).map((n) => 'a'.repeat(n)),
    fc.string({ unit: 'binary', maxLength: 40 }),
  );

  it('gives exactly what the full cleaning gives', () => {
    fc.assert(
      fc.property(text, (s) => {
        expect(auditText(s)).toBe(cleanAuditText(s));
      }),
      { numRuns: 3000 },
    );
  });

  it('party keys and trade ids are made storable, never masked: an all-digit USCC can look like an id number', () => {
    // 914407 + 19800101 + 123 + its GB 11643 check digit: a valid resident id number by shape,
    // and just as valid an all-digit USCC (the key of the party the entry is about).
    const digits = makeResidentId('44070319800101123');
    expect(auditText(digits)).not.toBe(digits);
    const keys = [digits, '91440703MA0000000H', 'np_abcdefghijklmnopqrstuvwxyz012345'];
    expect(auditKeys(keys)).toBe(keys);
    expect(auditKeys(['a\u0000b'])).toEqual(['a\uFFFDb']);
  });

  it('still masks a real id number and cuts long text', () => {
    expect(auditText('/v1/parties/440703199001011234')).toBe(
      cleanAuditText('/v1/parties/440703199001011234'),
    );
    expect(auditText('a'.repeat(5000))).toHaveLength(2048);
    expect(auditText('np_abcdefghijklmnopqrstuvwxyz012345')).toBe('np_abcdefghijklmnopqrstuvwxyz012345');
  });
});
