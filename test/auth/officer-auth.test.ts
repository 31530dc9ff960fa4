import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AuthFailureLimiter,
  addAuditSubjects,
  canSee,
  divisionFilter,
  officerScope,
  ROLES_FOR,
  requireRole,
  SYSTEM_SCOPE,
} from '../../src/http/auth';
import { createRedis } from '../../src/queue/redis';
import {
  findOfficerByToken,
  generateOfficerToken,
  hashOfficerToken,
  rotateOfficerToken,
  setOfficerStatus,
} from '../../src/repositories/officers.repository';
import { createTestContext, json, type TestContext } from '../support/context';
import { addOfficer, bearer, buildOfficerApp, type OfficerApp } from '../support/officers';

let ctx: TestContext;
let oa: OfficerApp;

beforeAll(async () => {
  ctx = await createTestContext();
  oa = buildOfficerApp(ctx, {
    routes: (app) => {
      app.get('/v1/test/whoami', requireRole(...ROLES_FOR.readRecords), (c) => {
        const o = c.get('officer')!;
        addAuditSubjects(c, { parties: ['91350100M000100Y43'] });
        return c.json({ login: o.login, role: o.role, divisions: o.divisions, pii: o.pii });
      });
    },
  });
});
afterAll(async () => ctx.close());

const get = (path: string, headers: Record<string, string> = {}) => oa.app.request(path, { headers });

describe('authentication', () => {
  it('200 with a valid token: the officer is in the context', async () => {
    const o = await addOfficer(ctx, { divisions: ['440703', '440704'], pii: true });
    const res = await get('/v1/test/whoami', bearer(o.token));
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({
      login: o.login,
      role: 'officer',
      divisions: ['440703', '440704'],
      pii: true,
    });
  });

  it('the bearer scheme is case-insensitive', async () => {
    const o = await addOfficer(ctx);
    const res = await get('/v1/test/whoami', { authorization: `bearer ${o.token}` });
    expect(res.status).toBe(200);
  });

  it('401 without a token, with WWW-Authenticate: Bearer and a problem body', async () => {
    const res = await get('/v1/test/whoami');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="retrace"$/);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await json(res)).toMatchObject({ type: '/problems/unauthorized', status: 401 });
  });

  it('401 for an unknown token, a malformed header and another scheme', async () => {
    for (const authorization of [
      `Bearer ${generateOfficerToken()}`,
      'Bearer rt_short',
      'Bearer',
      'Basic dXNlcjpwYXNz',
      `Bearer ${generateOfficerToken()} extra`,
    ]) {
      const res = await get('/v1/test/whoami', { authorization, 'x-test-client': 'unknown-tokens' });
      expect(res.status, authorization).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
    }
  });

  it('401 for a disabled officer (and the token stays dead after enabling again)', async () => {
    const o = await addOfficer(ctx);
    expect((await get('/v1/test/whoami', bearer(o.token))).status).toBe(200);
    await setOfficerStatus(ctx.rt.db, o.login, 'disabled');
    expect((await get('/v1/test/whoami', bearer(o.token))).status).toBe(401);
    await setOfficerStatus(ctx.rt.db, o.login, 'enabled');
    expect((await get('/v1/test/whoami', bearer(o.token))).status).toBe(401);
    const fresh = await rotateOfficerToken(ctx.rt.db, ctx.rt.keyring, o.login);
    expect((await get('/v1/test/whoami', bearer(fresh!))).status).toBe(200);
  });

  it('401 for a rotated (revoked) token; the new one works', async () => {
    const o = await addOfficer(ctx);
    const next = await rotateOfficerToken(ctx.rt.db, ctx.rt.keyring, o.login);
    expect(next).toMatch(/^rt_[A-Za-z0-9_-]{43}$/);
    expect((await get('/v1/test/whoami', bearer(o.token))).status).toBe(401);
    expect((await get('/v1/test/whoami', bearer(next!))).status).toBe(200);
  });

  it('stores only a keyed hash of the token', async () => {
    const o = await addOfficer(ctx);
    const rows = await ctx.rt.db
      .selectFrom('officer_tokens')
      .selectAll()
      .where('officer', '=', o.login)
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.token_hash.equals(hashOfficerToken(ctx.rt.keyring, o.token))).toBe(true);
    const dump = JSON.stringify(rows, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
    expect(dump).not.toContain(o.token.slice(3, 20));
    expect(await findOfficerByToken(ctx.rt.db, ctx.rt.keyring, o.token)).toMatchObject({ login: o.login });
  });

  it('leaves platform ingestion alone: /v1/ingest/* needs no bearer token', async () => {
    const res = await oa.app.request('/v1/ingest/nope/events', { method: 'POST' });
    expect(res.status).toBe(404); // no ingest routes in this app; the gate did not answer 401
  });
});

describe('roles', () => {
  it('403 on /v1/audit for officer, supervisor and admin; 200 for auditor', async () => {
    for (const role of ['officer', 'supervisor', 'admin'] as const) {
      const o = await addOfficer(ctx, { role });
      const res = await get('/v1/audit', bearer(o.token));
      expect(res.status, role).toBe(403);
      expect(await json(res)).toMatchObject({ type: '/problems/forbidden', status: 403 });
    }
    const auditor = await addOfficer(ctx, { role: 'auditor', divisions: [] });
    expect((await get('/v1/audit', bearer(auditor.token))).status).toBe(200);
  });

  it('the role is checked before the parameters: a non-auditor learns nothing from a 400', async () => {
    const o = await addOfficer(ctx);
    expect((await get('/v1/audit?limit=0', bearer(o.token))).status).toBe(403);
  });

  it('auditor and admin do not read records', async () => {
    for (const role of ['auditor', 'admin'] as const) {
      const o = await addOfficer(ctx, { role, divisions: [] });
      expect((await get('/v1/test/whoami', bearer(o.token))).status, role).toBe(403);
    }
  });
});

describe('failed-authentication rate limit', () => {
  it('429 + Retry-After after the limit of failures per minute from one IP; other IPs unaffected', async () => {
    const now = Date.UTC(2026, 9, 2, 0, 0, 10);
    const limited = buildOfficerApp(ctx, { failureLimitPerMinute: 5, now: () => now });
    const from = (ip: string, token: string) =>
      limited.app.request('/v1/audit', { headers: bearer(token, { 'x-test-client': ip }) });
    for (let i = 0; i < 5; i++) expect((await from('10.0.0.1', generateOfficerToken())).status).toBe(401);
    const blocked = await from('10.0.0.1', generateOfficerToken());
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toBe('50');
    expect(await json(blocked)).toMatchObject({ type: '/problems/rate-limited', status: 429 });
    // A valid token still works from the blocked address (one person's typos do not lock out
    // the whole office behind it); its invalid tokens go on getting 429.
    const auditor = await addOfficer(ctx, { role: 'auditor', divisions: [] });
    expect((await from('10.0.0.1', auditor.token)).status).toBe(200);
    expect((await from('10.0.0.1', generateOfficerToken())).status).toBe(429);
    expect((await from('10.0.0.2', auditor.token)).status).toBe(200);
    expect((await from('10.0.0.2', generateOfficerToken())).status).toBe(401);
  });

  it('by default, a client checking that many endpoints refuse bad tokens is answered 401 every time', async () => {
    const now = Date.UTC(2026, 9, 2, 0, 7, 10);
    const app = buildOfficerApp(ctx, { now: () => now });
    const statuses = new Set<number>();
    for (let i = 0; i < 60; i++) {
      const res = await app.app.request('/v1/audit', {
        headers: bearer(generateOfficerToken(), { 'x-test-client': '10.0.0.9' }),
      });
      statuses.add(res.status);
    }
    expect([...statuses]).toEqual([401]);
  });

  it('the next window starts afresh', async () => {
    let now = Date.UTC(2026, 9, 2, 0, 5, 59);
    const limited = buildOfficerApp(ctx, { failureLimitPerMinute: 2, now: () => now });
    const attempt = () =>
      limited.app.request('/v1/audit', {
        headers: bearer(generateOfficerToken(), { 'x-test-client': '10.0.0.3' }),
      });
    expect((await attempt()).status).toBe(401);
    expect((await attempt()).status).toBe(401);
    expect((await attempt()).status).toBe(429);
    now += 1_000;
    expect((await attempt()).status).toBe(401);
  });

  it('requests without credentials are not counted', async () => {
    const limited = buildOfficerApp(ctx, { failureLimitPerMinute: 1 });
    for (let i = 0; i < 3; i++) {
      const res = await limited.app.request('/v1/audit', { headers: { 'x-test-client': '10.0.0.4' } });
      expect(res.status).toBe(401);
    }
  });

  it('fails open when Redis is unreachable', async () => {
    const dead = createRedis('redis://127.0.0.1:1', 'producer');
    try {
      const limiter = new AuthFailureLimiter(dead, ctx.redisPrefix, 1);
      await limiter.fail('10.0.0.5');
      await limiter.fail('10.0.0.5');
      expect(await limiter.blocked('10.0.0.5')).toBeNull();
    } finally {
      dead.disconnect();
    }
  });
});

describe('division scope', () => {
  it('officerScope normalises: valid codes, deduplicated, covered codes dropped', () => {
    expect(officerScope({ divisions: ['440704', '440703', '440703', 'bogus', '440000'] })).toEqual({
      all: false,
      divisions: ['440703', '440704'],
    });
    expect(officerScope({ divisions: ['440703', '440700', '440106'] })).toEqual({
      all: false,
      divisions: ['440106', '440700'],
    });
  });

  it('canSee: 440700 covers all of Jiangmen, a county only itself', () => {
    const city = officerScope({ divisions: ['440700'] });
    expect(canSee(city, '440785')).toBe(true);
    expect(canSee(city, '440700')).toBe(true);
    expect(canSee(city, '440106')).toBe(false);
    const county = officerScope({ divisions: ['440703'] });
    expect(canSee(county, '440703')).toBe(true);
    expect(canSee(county, '440704')).toBe(false);
    expect(canSee(county, null)).toBe(false);
    expect(canSee(officerScope({ divisions: [] }), '440703')).toBe(false);
    expect(canSee(SYSTEM_SCOPE, '110105')).toBe(true);
  });

  it('divisionFilter + inDivisions select in SQL exactly what canSee allows', async () => {
    const { inDivisions } = await import('../../src/repositories/officers.repository');
    const { sql } = await import('kysely');
    const codes = ['440700', '440703', '440704', '440785', '440106', '110105'];
    for (const divisions of [['440700'], ['440703'], ['440703', '440106'], []]) {
      const scope = officerScope({ divisions });
      const { rows } = await sql<{ d: string }>`
        SELECT d FROM unnest(${codes}::text[]) AS t(d) WHERE ${inDivisions('t.d', divisionFilter(scope))}
        ORDER BY d`.execute(ctx.rt.db);
      expect(rows.map((r) => r.d)).toEqual(codes.filter((c) => canSee(scope, c)).sort());
    }
    const { rows } = await sql<{ d: string }>`
      SELECT d FROM unnest(${codes}::text[]) AS t(d) WHERE ${inDivisions('t.d', divisionFilter(SYSTEM_SCOPE))}`.execute(
      ctx.rt.db,
    );
    expect(rows).toHaveLength(codes.length);
  });
});
