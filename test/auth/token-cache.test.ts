import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Auditor } from '../../src/audit/audit';
import { type App, createBaseApp } from '../../src/http/app';
import { addAuditSubjects, officerGate, ROLES_FOR, requireRole } from '../../src/http/auth';
import { OFFICER_TOKEN_CACHE_MS } from '../../src/http/server';
import { rotateOfficerToken, setOfficerStatus } from '../../src/repositories/officers.repository';
import { createTestContext, type TestContext } from '../support/context';
import { addOfficer, bearer } from '../support/officers';

/**
 * `serve api` trusts a verified token for OFFICER_TOKEN_CACHE_MS (src/http/server.ts) before asking
 * the database again. A disabled officer or a rotated token must stop working within that time,
 * and every request — served from the cache or not — is still audited.
 */

let ctx: TestContext;
let now = 1_000_000;
let app: App;
const TTL = OFFICER_TOKEN_CACHE_MS;

beforeAll(async () => {
  ctx = await createTestContext();
  app = createBaseApp({ log: ctx.rt.log, metrics: ctx.rt.metrics });
  app.use(
    '/v1/*',
    officerGate({
      db: ctx.rt.db,
      keyring: ctx.rt.keyring,
      redis: ctx.rt.queues.redis,
      redisPrefix: ctx.redisPrefix,
      auditor: new Auditor({ db: ctx.rt.db, keyring: ctx.rt.keyring }),
      now: () => now,
      tokenCacheTtlMs: TTL,
      clientIp: () => '127.0.0.1',
    }),
  );
  app.get('/v1/test/whoami', requireRole(...ROLES_FOR.readRecords), (c) => {
    addAuditSubjects(c, { parties: ['91350100M000100Y43'] });
    return c.json({ login: c.get('officer')!.login });
  });
});
afterAll(async () => ctx.close());

const whoami = async (token: string) =>
  (await app.request('/v1/test/whoami', { headers: bearer(token) })).status;

const auditCount = async (login: string) =>
  Number(
    (
      await ctx.rt.db
        .selectFrom('audit_log')
        .select((eb) => eb.fn.countAll<bigint>().as('n'))
        .where('actor', '=', login)
        .executeTakeFirstOrThrow()
    ).n,
  );

describe('officer token cache', () => {
  it('the documented time is short: at most 10 s', () => {
    expect(TTL).toBeGreaterThan(0);
    expect(TTL).toBeLessThanOrEqual(10_000);
  });

  it('a disabled officer stops working within the cache time, and every request is audited', async () => {
    const o = await addOfficer(ctx);
    expect(await whoami(o.token)).toBe(200);
    await setOfficerStatus(ctx.rt.db, o.login, 'disabled');
    now += TTL - 1;
    expect(await whoami(o.token)).toBe(200); // still trusted from the cache
    now += 1;
    expect(await whoami(o.token)).toBe(401); // the cache time is up: the database says no
    now += 1;
    expect(await whoami(o.token)).toBe(401); // failures are never cached as success
    expect(await auditCount(o.login)).toBe(2); // both 200s, the cached one included
  });

  it('a rotated token stops working within the cache time; the new one works at once', async () => {
    const o = await addOfficer(ctx);
    expect(await whoami(o.token)).toBe(200);
    const fresh = await rotateOfficerToken(ctx.rt.db, ctx.rt.keyring, o.login);
    expect(fresh).toBeTruthy();
    expect(await whoami(fresh!)).toBe(200);
    now += TTL;
    expect(await whoami(o.token)).toBe(401);
    expect(await whoami(fresh!)).toBe(200);
  });

  it('unknown tokens are not cached and still count as failures', async () => {
    expect(await whoami(`rt_${'a'.repeat(43)}`)).toBe(401);
    expect(await whoami(`rt_${'a'.repeat(43)}`)).toBe(401);
  });
});
