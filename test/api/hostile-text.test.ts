import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context';
import { addOfficer, bearer, type TestOfficer } from '../support/officers';

// Text that PostgreSQL cannot store — U+0000 (`%00`, `\u0000`) and lone surrogates (`%ED%A0%80`
// is not UTF-8 at all; `\ud800` in JSON) — in every path segment, filter and body field of the
// query API: always an answer below 500 (400, 404 or an empty list), never a failed query.

let ctx: TestContext;
let admin: TestOfficer;
let supervisor: TestOfficer;
let auditor: TestOfficer;

beforeAll(async () => {
  ctx = await createTestContext();
  admin = await addOfficer(ctx, { role: 'admin', divisions: ['440700'] });
  supervisor = await addOfficer(ctx, { role: 'supervisor', divisions: ['440700'] });
  auditor = await addOfficer(ctx, { role: 'auditor', divisions: ['440700'] });
});
afterAll(async () => ctx.close());

const BAD = ['%00', 'a%00b', '%ED%A0%80', '%EF%BF%BF', '%C0%80'];

describe('hostile text in the query API', () => {
  it('path segments and filters: never a 5xx', async () => {
    const paths: [string, TestOfficer][] = [];
    for (const b of BAD) {
      paths.push(
        [`/v1/trades/${b}`, admin],
        [`/v1/trades/p1:${b}`, admin],
        [`/v1/trades/p1:${b}/chain`, admin],
        [`/v1/parties/${b}`, admin],
        [`/v1/parties/${b}/summary?period=2026-10`, admin],
        [`/v1/parties/${b}/summary/withholding?period=2026-10`, admin],
        [`/v1/anomalies/${b}`, supervisor],
        [`/v1/reports/${b}`, supervisor],
        [`/v1/reports/${b}/download?format=csv`, supervisor],
        [`/v1/audit?actor=${b}`, auditor],
      );
      for (const param of [
        'party',
        'seller',
        'buyer',
        'material',
        'division',
        'from',
        'to',
        'status',
        'cursor',
      ]) {
        paths.push([`/v1/trades?${param}=${b}`, admin]);
      }
      for (const param of ['division', 'rule', 'severity', 'status', 'party', 'period', 'cursor']) {
        paths.push([`/v1/anomalies?${param}=${b}`, supervisor]);
      }
    }
    for (const [path, who] of paths) {
      const res = await ctx.app.request(path, { headers: bearer(who.token) });
      expect(res.status, path).toBeLessThan(500);
    }
  });

  it('JSON bodies: never a 5xx', async () => {
    const bodies: [string, unknown][] = [
      ['/v1/reports', { kind: 'monthly_anomalies', division: '440703\u0000', period: '2026-10' }],
      ['/v1/reports', { kind: 'monthly_anomalies\u0000', division: '440703', period: '2026-10' }],
      ['/v1/anomalies/1/review', { decision: 'confirmed', note: 'ok\u0000' }],
      ['/v1/anomalies/1/review', { decision: 'dismissed', note: '\ud800' }],
    ];
    for (const [path, body] of bodies) {
      const res = await ctx.app.request(path, {
        method: 'POST',
        headers: bearer(supervisor.token, { 'content-type': 'application/json' }),
        body: JSON.stringify(body),
      });
      expect(res.status, `${path} ${JSON.stringify(body)}`).toBeLessThan(500);
    }
  });
});
