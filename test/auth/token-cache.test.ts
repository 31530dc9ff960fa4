import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/app';
import { addAuditSubjects, ROLES_FOR, requireRole } from '../../src/http/auth';
import { OFFICER_TOKEN_CACHE_MS } from '../../src/http/server';
import { TokenRevocations } from '../../src/http/token-revocations';
import { rotateOfficerToken, setOfficerStatus } from '../../src/repositories/officers.repository';
import { createTestContext, type TestContext } from '../support/context';
import { addOfficer, bearer, buildOfficerApp } from '../support/officers';

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
  ({ app } = buildOfficerApp(ctx, {
    now: () => now,
    tokenCacheTtlMs: TTL,
    routes: (a) =>
      a.get('/v1/test/whoami', requireRole(...ROLES_FOR.readRecords), (c) => {
        addAuditSubjects(c, { parties: ['91350100M000100Y43'] });
        return c.json({ login: c.get('officer')!.login });
      }),
  }));
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

describe('officer token cache with change notifications (as serve api runs it)', () => {
  let notifiedApp: App;
  let changes: TokenRevocations;
  const realNow = 1_000_000;

  beforeAll(async () => {
    changes = new TokenRevocations(ctx.databaseUrl, undefined, 50);
    await changes.start();
    ({ app: notifiedApp } = buildOfficerApp(ctx, {
      // A frozen clock: only a notification can end a cached entry here.
      now: () => realNow,
      tokenCacheTtlMs: TTL,
      tokenChanges: changes,
      routes: (a) =>
        a.get('/v1/test/whoami', requireRole(...ROLES_FOR.readRecords), (c) =>
          c.json({ login: c.get('officer')!.login }),
        ),
    }));
  });
  afterAll(async () => changes.close());

  const ask = async (token: string) =>
    (await notifiedApp.request('/v1/test/whoami', { headers: bearer(token) })).status;
  /** The notification travels PostgreSQL → this process's listening connection: wait for it. */
  const heard = () =>
    new Promise<void>((resolve) => {
      const off = changes.onChange(() => {
        off();
        resolve();
      });
    });

  it('listens', () => expect(changes.listening).toBe(true));

  it('a disabled officer stops working as soon as the change commits, before the cache time', async () => {
    const o = await addOfficer(ctx);
    expect(await ask(o.token)).toBe(200);
    expect(await ask(o.token)).toBe(200); // cached
    const notified = heard();
    await setOfficerStatus(ctx.rt.db, o.login, 'disabled');
    await notified;
    expect(await ask(o.token)).toBe(401);
  });

  it('a rotated token stops working as soon as the change commits', async () => {
    const o = await addOfficer(ctx);
    expect(await ask(o.token)).toBe(200);
    const notified = heard();
    const fresh = await rotateOfficerToken(ctx.rt.db, ctx.rt.keyring, o.login);
    await notified;
    expect(await ask(o.token)).toBe(401);
    expect(await ask(fresh!)).toBe(200);
  });

  it('without a listening connection the cache is not used', async () => {
    const o = await addOfficer(ctx);
    await changes.close();
    expect(changes.listening).toBe(false);
    expect(await ask(o.token)).toBe(200);
    // Disabled behind the cache's back (no one hears it): the next request still asks the database.
    await ctx.rt.db
      .updateTable('officers')
      .set({ status: 'disabled' })
      .where('login', '=', o.login)
      .execute();
    expect(await ask(o.token)).toBe(401);
    await changes.start();
    expect(changes.listening).toBe(true);
  });
});
