import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { envelopeSchema, parseEvent } from '../../src/domain/events';
import { canonicalJson, contentHash, sha256 } from '../../src/ingest/canonical';

/** The first definition of canonical JSON: stored hashes were computed with it. */
function reference(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`;
}

describe('canonical JSON (content hashes of stored events depend on it)', () => {
  it('gives exactly the bytes of the reference definition for any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(canonicalJson(v)).toBe(reference(v));
      }),
      { numRuns: 2_000 },
    );
  });

  it('and for what audit and rule code may hand it: undefined members, holes, Dates, unicode keys', () => {
    fc.assert(
      fc.property(
        fc.anything({ withDate: true, withSparseArray: true, withNullPrototype: true, withBigInt: false }),
        (v) => {
          expect(canonicalJson(v)).toBe(reference(v));
        },
      ),
      { numRuns: 1_000 },
    );
    const sparse: unknown[] = [1, undefined];
    sparse[3] = 'x';
    const odd = { b: undefined, a: sparse, é: { z: new Date(0), y: null }, '': 0 };
    expect(canonicalJson(odd)).toBe(reference(odd));
  });

  it('is independent of key order, and contentHash is SHA-256 of it', () => {
    const a = { type: 'x', data: { q: '1', p: [{ b: 2, a: 1 }] } };
    const b = { data: { p: [{ a: 1, b: 2 }], q: '1' }, type: 'x' };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(contentHash('x', b.data)).toEqual(createHash('sha256').update(canonicalJson(a)).digest());
    expect(sha256(Buffer.from('abc'))).toEqual(createHash('sha256').update('abc').digest());
  });
});

describe('the envelope check of parseEvent', () => {
  it('rejects `data` exactly when the documented envelope schema does, with the same messages', () => {
    const materials = new Set(['FE_HEAVY']);
    const missing = Symbol('missing');
    fc.assert(
      fc.property(
        fc.oneof(fc.jsonValue(), fc.constant(missing)),
        fc.constantFrom('trade.created', 'party.registered', 'nope'),
        (data, type) => {
          const body: Record<string, unknown> = { type, timestamp: '2026-10-02T08:15:00+08:00' };
          if (data !== missing) body.data = data;
          const documented = envelopeSchema.safeParse(body);
          const rejectsData =
            !documented.success && documented.error.issues.some((i) => i.path[0] === 'data');
          const r = parseEvent(body, { materials });
          const atData = r.ok ? [] : r.errors.filter((e) => e.pointer === '/data').map((e) => e.message);
          const want =
            data === missing
              ? 'is required'
              : data === null
                ? 'must be an object, not null'
                : 'must be an object';
          expect(atData).toEqual(rejectsData ? [want] : []);
        },
      ),
      { numRuns: 1_000 },
    );
  });
});
