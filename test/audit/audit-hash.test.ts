import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/ingest/canonical';
import { type AuditEntryInput, auditHashInput } from '../../src/repositories/audit.repository';

/**
 * The chain's hash input is written out field by field (src/repositories/audit.repository.ts,
 * auditHashInput): it must stay the canonical JSON of the entry, as first defined, or every stored
 * hash stops verifying.
 */
const canonicalInput = (e: AuditEntryInput & { id: bigint }) =>
  canonicalJson({
    v: 1,
    id: e.id.toString(),
    at: e.at.toISOString(),
    actor: e.actor,
    role: e.role,
    method: e.method,
    endpoint: e.endpoint,
    path: e.path,
    query: e.query,
    status: e.status,
    parties: e.parties,
    trades: e.trades,
    pii_unmasked: e.piiUnmasked,
    request_id: e.requestId,
  });

const str = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('"', '\\', '\u2028', '\uD800', '__proto__', 'np_abc'),
);

const entry = fc.record({
  id: fc.bigInt({ min: 1n, max: 9_223_372_036_854_775_807n }),
  at: fc.date({
    min: new Date('1970-01-01T00:00:00Z'),
    max: new Date('2999-12-31T00:00:00Z'),
    noInvalidDate: true,
  }),
  actor: str,
  role: str,
  method: str,
  endpoint: str,
  path: str,
  query: fc.dictionary(str, fc.oneof(str, fc.array(str, { maxLength: 3 }))),
  status: fc.integer({ min: 100, max: 599 }),
  parties: fc.array(str, { maxLength: 6 }),
  trades: fc.array(str, { maxLength: 6 }),
  piiUnmasked: fc.boolean(),
  requestId: fc.option(str, { nil: null }),
});

describe('audit hash input', () => {
  it('is the canonical JSON of the entry', () => {
    fc.assert(
      fc.property(entry, (e) => {
        expect(auditHashInput(e)).toBe(canonicalInput(e));
      }),
      { numRuns: 3000 },
    );
  });

  it('is the canonical JSON of entries read back from rows of another shape', () => {
    const odd = {
      id: 7n,
      at: new Date('2026-10-02T00:15:00Z'),
      actor: 'li.ming',
      role: 'officer',
      method: 'GET',
      endpoint: '/v1/trades',
      path: '/v1/trades',
      query: { b: '2', a: ['1', '0'] },
      status: 200,
      parties: [{ z: 1, a: 2 }, 3] as unknown as string[],
      trades: null as unknown as string[],
      piiUnmasked: 'yes' as unknown as boolean,
      requestId: undefined as unknown as null,
    };
    expect(auditHashInput(odd)).toBe(canonicalInput(odd));
    expect(auditHashInput({ ...odd, piiUnmasked: false, requestId: null })).toBe(
      canonicalInput({ ...odd, piiUnmasked: false, requestId: null }),
    );
  });
});
