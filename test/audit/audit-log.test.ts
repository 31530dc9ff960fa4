import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Auditor } from '../../src/audit/audit';
import { addAuditSubjects, piiPresenter, ROLES_FOR, requireRole } from '../../src/http/auth';
import { decodeCursor, encodeCursor } from '../../src/http/routes/audit/listAuditEntries';
import {
  type AuditEntryInput,
  appendAuditEntries,
  auditText,
  verifyAuditChain,
} from '../../src/repositories/audit.repository';
import { PiiVault } from '../../src/security/pii';
import { type AnyJson, createTestContext, json, type TestContext } from '../support/context';
import { addOfficer, bearer, buildOfficerApp, type OfficerApp, type TestOfficer } from '../support/officers';

let ctx: TestContext;
let oa: OfficerApp;
let auditor: TestOfficer;
let vault: PiiVault;

const ID_NUMBER = '11010519491231002X';

beforeAll(async () => {
  ctx = await createTestContext();
  vault = new PiiVault(ctx.rt.keyring);
  oa = buildOfficerApp(ctx, {
    routes: (app) => {
      app.get('/v1/test/parties/:key', requireRole(...ROLES_FOR.readRecords), (c) => {
        const pii = piiPresenter(c, vault);
        addAuditSubjects(c, { parties: [c.req.param('key')], trades: [7n, '8'] });
        addAuditSubjects(c, { trades: ['8', '9'] });
        return c.json({ key: c.req.param('key'), id_number: pii.idNumber(ID_NUMBER) });
      });
      app.get('/v1/test/boom', () => {
        throw new Error('boom');
      });
    },
  });
  auditor = await addOfficer(ctx, { role: 'auditor', divisions: [] });
});
afterAll(async () => ctx.close());

const get = (path: string, token: string) => oa.app.request(path, { headers: bearer(token) });

async function entriesOf(login: string) {
  return ctx.rt.db.selectFrom('audit_log').selectAll().where('actor', '=', login).orderBy('id').execute();
}

function entry(over: Partial<AuditEntryInput> = {}): AuditEntryInput {
  return {
    at: new Date(),
    actor: 'bulk.writer',
    role: 'officer',
    method: 'GET',
    endpoint: '/v1/trades',
    path: '/v1/trades',
    query: {},
    status: 200,
    parties: [],
    trades: [],
    piiUnmasked: false,
    requestId: null,
    ...over,
  };
}

describe('one entry per officer request', () => {
  it('records 200 with subjects, PII unmasking, 403, 404, 400 and 500 — exactly one each', async () => {
    const o = await addOfficer(ctx, { pii: true });
    const responses = [
      await get('/v1/test/parties/91350100M000100Y43?verbose=1&x=a&x=b', o.token),
      await get('/v1/audit', o.token),
      await get('/v1/no-such-thing', o.token),
      await get('/v1/test/boom', o.token),
    ];
    expect(responses.map((r) => r.status)).toEqual([200, 403, 404, 500]);
    expect((await json(responses[0]!)).id_number).toBe(ID_NUMBER);
    const a = await addOfficer(ctx, { role: 'auditor', divisions: [] });
    expect((await get('/v1/audit?limit=0', a.token)).status).toBe(400);

    const rows = await entriesOf(o.login);
    expect(rows.map((r) => [r.status, r.endpoint])).toEqual([
      [200, '/v1/test/parties/:key'],
      [403, '/v1/audit'],
      [404, 'unmatched'],
      [500, '/v1/test/boom'],
    ]);
    const first = rows[0]!;
    expect(first).toMatchObject({
      role: 'officer',
      method: 'GET',
      path: '/v1/test/parties/91350100M000100Y43',
      query: { verbose: '1', x: ['a', 'b'] },
      parties: ['91350100M000100Y43'],
      trades: ['7', '8', '9'],
      pii_unmasked: true,
    });
    expect(first.request_id).toBe(responses[0]!.headers.get('x-request-id'));
    expect(rows.slice(1).every((r) => r.pii_unmasked === false)).toBe(true);

    const auditorRows = await entriesOf(a.login);
    expect(auditorRows.map((r) => [r.status, r.endpoint, r.query])).toEqual([
      [400, '/v1/audit', { limit: '0' }],
    ]);
  });

  it('masked output is not flagged as unmasked', async () => {
    const o = await addOfficer(ctx, { pii: false });
    const res = await get('/v1/test/parties/X', o.token);
    expect((await json(res)).id_number).toBe('110105********002X');
    expect((await entriesOf(o.login))[0]!.pii_unmasked).toBe(false);
  });

  it('nothing is written for unauthenticated requests', async () => {
    const before = await ctx.rt.db
      .selectFrom('audit_log')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    expect((await oa.app.request('/v1/audit')).status).toBe(401);
    const after = await ctx.rt.db
      .selectFrom('audit_log')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
  });

  it('503 instead of unaudited data when the audit write fails', async () => {
    const failing = { record: () => Promise.reject(new Error('disk full')) } as unknown as Auditor;
    const broken = buildOfficerApp(ctx, {
      auditor: failing,
      routes: (app) => app.get('/v1/test/secret', (c) => c.json({ secret: 'taxpayer data' })),
    });
    const o = await addOfficer(ctx);
    const res = await broken.app.request('/v1/test/secret', { headers: bearer(o.token) });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const text = await res.text();
    expect(text).not.toContain('taxpayer data');
    expect(JSON.parse(text)).toMatchObject({ type: '/problems/unavailable', status: 503 });
  });
});

describe('GET /v1/audit', () => {
  let someone: TestOfficer;

  beforeAll(async () => {
    someone = await addOfficer(ctx);
    for (let i = 0; i < 7; i++) await get(`/v1/test/parties/P${i}`, someone.token);
  });

  it('lists newest first with the wire shape, filtered by actor', async () => {
    const res = await get(`/v1/audit?actor=${someone.login}`, auditor.token);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.next_cursor).toBeNull();
    expect(body.items).toHaveLength(7);
    expect(body.items.map((e: AnyJson) => e.path)).toEqual(
      [6, 5, 4, 3, 2, 1, 0].map((i) => `/v1/test/parties/P${i}`),
    );
    const e = body.items[0];
    expect(e).toMatchObject({
      actor: someone.login,
      role: 'officer',
      method: 'GET',
      endpoint: '/v1/test/parties/:key',
      status: 200,
      parties: ['P6'],
      trades: ['7', '8', '9'],
      pii_unmasked: false,
    });
    expect(e.id).toMatch(/^\d+$/);
    expect(e.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00$/);
    expect(e.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(e.prev_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('pages with an opaque cursor until next_cursor is null', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = `/v1/audit?actor=${someone.login}&limit=3${cursor ? `&cursor=${cursor}` : ''}`;
      const body = await json(await get(q, auditor.token));
      seen.push(...body.items.map((e: AnyJson) => e.id));
      cursor = body.next_cursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toHaveLength(7);
    expect(new Set(seen).size).toBe(7);
    expect(seen.map(BigInt)).toEqual([...seen.map(BigInt)].sort((a, b) => (a > b ? -1 : 1)));
  });

  it('filters by time: from inclusive, to exclusive', async () => {
    const rows = await entriesOf(someone.login);
    const mid = rows[3]!.at as Date;
    const iso = (d: Date) => encodeURIComponent(d.toISOString().replace('Z', '+00:00'));
    const later = await json(await get(`/v1/audit?actor=${someone.login}&from=${iso(mid)}`, auditor.token));
    expect(later.items.every((e: AnyJson) => Date.parse(e.at) >= mid.getTime())).toBe(true);
    expect(later.items.length).toBeGreaterThanOrEqual(4);
    const earlier = await json(await get(`/v1/audit?actor=${someone.login}&to=${iso(mid)}`, auditor.token));
    expect(earlier.items.every((e: AnyJson) => Date.parse(e.at) < mid.getTime())).toBe(true);
    expect(later.items.length + earlier.items.length).toBe(7);
    const none = await json(
      await get(
        `/v1/audit?actor=${someone.login}&from=2000-01-01T00:00:00%2B08:00&to=2000-01-02T00:00:00Z`,
        auditor.token,
      ),
    );
    expect(none).toEqual({ items: [], next_cursor: null });
  });

  it('400 with pointers for bad parameters; hostile input never gives a 5xx', async () => {
    const cases: [string, string][] = [
      ['limit=0', '/query/limit'],
      ['limit=501', '/query/limit'],
      ['limit=-1', '/query/limit'],
      ['limit=abc', '/query/limit'],
      ['limit=1e2', '/query/limit'],
      ['limit=99999999999999999999999', '/query/limit'],
      ['limit=', '/query/limit'],
      ['limit=1&limit=2', '/query/limit'],
      ['from=2026-10-01', '/query/from'],
      ['from=2026-10-01T00:00:00', '/query/from'],
      ['from=2026-02-30T00:00:00%2B08:00', '/query/from'],
      ['from=0000-01-01T00:00:00Z', '/query/from'],
      ['to=9999-12-31T23:59:59%2B08:00', '/query/to'],
      ['from=2026-10-01T00:00:00 08', '/query/from'],
      ['to=yesterday', '/query/to'],
      ['from=2026-10-02T00:00:00Z&to=2026-10-01T00:00:00Z', '/query/to'],
      ['cursor=!!!', '/query/cursor'],
      ['cursor=', '/query/cursor'],
      [`cursor=${Buffer.from('abc').toString('base64url')}`, '/query/cursor'],
      [`cursor=${Buffer.from('-5').toString('base64url')}`, '/query/cursor'],
      [`cursor=${Buffer.from('99999999999999999999').toString('base64url')}`, '/query/cursor'],
      ['cursor=%00', '/query/cursor'],
      ['actor=%00', '/query/actor'],
      ['actor=Robert%27);DROP%20TABLE%20audit_log;--', '/query/actor'],
      [`actor=${'a'.repeat(5000)}`, '/query/actor'],
    ];
    for (const [qs, pointer] of cases) {
      const res = await get(`/v1/audit?${qs}`, auditor.token);
      expect(res.status, qs).toBe(400);
      const body = await json(res);
      expect(body.type).toBe('/problems/validation');
      expect(
        body.errors.map((e: AnyJson) => e.pointer),
        qs,
      ).toContain(pointer);
    }
    // Unknown parameters and odd names are ignored, but still recorded verbatim (sanitised).
    for (const qs of [
      '%00=%00',
      '__proto__=x',
      'x=%ED%A0%80',
      'q=%F0%9F%98%80',
      `big=${'%FF'.repeat(3000)}`,
    ]) {
      const res = await get(`/v1/audit?${qs}`, auditor.token);
      expect(res.status, qs).toBe(200);
    }
    const v = await verifyAuditChain(ctx.rt.db, ctx.rt.keyring.key('audit-chain'));
    expect(v.ok).toBe(true);
  });
});

describe('append-only and hash-chained', () => {
  it('UPDATE, DELETE and TRUNCATE through the application connection are refused', async () => {
    await addOfficer(ctx).then((o) => get('/v1/no-such-thing', o.token));
    await expect(
      ctx.rt.db.updateTable('audit_log').set({ status: 200 }).where('status', '=', 404).execute(),
    ).rejects.toThrow(/append-only/);
    await expect(ctx.rt.db.deleteFrom('audit_log').where('status', '=', 404).execute()).rejects.toThrow(
      /append-only/,
    );
    await expect(ctx.rt.db.deleteFrom('audit_log').where(sql<boolean>`false`).execute()).rejects.toThrow(
      /append-only/,
    );
    await expect(sql`TRUNCATE audit_log`.execute(ctx.rt.db)).rejects.toThrow(/append-only/);
  });

  it('50 concurrent appends (separate transactions and batched) keep one valid chain', async () => {
    const key = ctx.rt.keyring.key('audit-chain');
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => appendAuditEntries(ctx.rt.db, key, [entry({ path: `/c/${i}` })])),
    );
    const service = new Auditor({ db: ctx.rt.db, keyring: ctx.rt.keyring });
    const ids = await Promise.all(
      Array.from({ length: 50 }, (_, i) => service.record(entry({ path: `/b/${i}` }))),
    );
    expect(new Set(ids.map((r) => r.id)).size).toBe(50);
    // And through HTTP, many at once.
    const o = await addOfficer(ctx);
    const statuses = await Promise.all(Array.from({ length: 30 }, () => get('/v1/test/parties/Z', o.token)));
    expect(statuses.every((r) => r.status === 200)).toBe(true);
    expect(await entriesOf(o.login)).toHaveLength(30);
    const v = await verifyAuditChain(ctx.rt.db, key);
    expect(v).toMatchObject({ ok: true, firstBrokenId: null });
    const { rows } = await sql<{ n: string; forks: string }>`
      SELECT count(*) AS n, count(*) - count(DISTINCT prev_hash) AS forks FROM audit_log`.execute(ctx.rt.db);
    expect(Number(rows[0]!.forks)).toBe(0);
    expect(v.entries).toBe(Number(rows[0]!.n));
  });

  it('auditText keeps what PostgreSQL can store', () => {
    expect(auditText('a\u0000b')).toBe('a\uFFFDb');
    expect(auditText('\uD800x')).toBe('\uFFFDx');
    expect(auditText('😀')).toBe('😀');
    expect(auditText('x'.repeat(5000))).toHaveLength(2048);
  });

  it('cursors: canonical base64url of a positive id only', () => {
    expect(decodeCursor(encodeCursor(1234n))).toBe(1234n);
    expect(decodeCursor(encodeCursor(9_223_372_036_854_775_807n))).toBe(9_223_372_036_854_775_807n);
    expect(decodeCursor(encodeCursor(9_223_372_036_854_775_807n + 1n))).toBeNull();
    expect(decodeCursor('MDEy')).toBeNull(); // "012"
    expect(decodeCursor('MTIzNA==')).toBeNull();
  });
});

describe('personal data in the audit log', () => {
  it('masks a raw id number typed into a path or a parameter', async () => {
    const { auditText } = await import('../../src/repositories/audit.repository');
    expect(auditText('/v1/parties/11010519491231002X')).toBe('/v1/parties/110105********002X');
    expect(auditText('party=11010519491231002X&x=1')).toBe('party=110105********002X&x=1');
    // Not an id number (bad check character): kept as typed.
    expect(auditText('11010519491231002Y')).toBe('11010519491231002Y');
  });
});
