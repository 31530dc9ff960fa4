import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenRevocations } from '../../src/http/token-revocations';
import {
  addPlatformSecret,
  insertPlatform,
  setPlatformStatus,
} from '../../src/repositories/platforms.repository';
import { generateSecret } from '../../src/security/webhook';
import { createTestContext, type TestContext, uid } from '../support/context';
import { tradeCreated } from '../support/factories';

// As `serve api` runs it: platforms cached for a minute, emptied when a platform command commits
// (PostgreSQL NOTIFY). A rotated secret, a disabled or a new platform take effect at once.

let ctx: TestContext;
let changes: TokenRevocations;

beforeAll(async () => {
  ctx = await createTestContext({ platformCacheTtlMs: 60_000 });
  changes = new TokenRevocations(ctx.databaseUrl, undefined, 50);
  changes.onPlatformChange(() => ctx.ingest.platforms.clear());
  await changes.start();
});
afterAll(async () => {
  await changes.close();
  await ctx.close();
});

/** The notification travels PostgreSQL → the listening connection: wait for it. */
const heard = () =>
  new Promise<void>((resolve) => {
    const off = changes.onPlatformChange(() => {
      off();
      resolve();
    });
  });
const send = (code: string, secret: string) =>
  ctx.post(`/v1/ingest/${code}/events`, JSON.stringify(tradeCreated()), { secret });

describe('platform changes reach a running API at once', () => {
  it('a new secret works as soon as it is added; a disabled platform is refused as soon as it is disabled', async () => {
    const p = await ctx.addPlatform();
    expect((await send(p.code, p.secret)).status).toBe(202); // cached now, for a minute
    const second = generateSecret();
    let notified = heard();
    await addPlatformSecret(ctx.rt.db, p.code, ctx.rt.keyring.encrypt('platform-secrets', second));
    await notified;
    expect((await send(p.code, second)).status).toBe(202);
    expect((await send(p.code, p.secret)).status).toBe(202); // the old one stays valid
    notified = heard();
    await setPlatformStatus(ctx.rt.db, p.code, 'disabled');
    await notified;
    expect((await send(p.code, second)).status).toBe(403);
  });

  it('a platform refused as unknown works as soon as it is added', async () => {
    const code = uid('p').toLowerCase();
    const secret = generateSecret();
    expect((await send(code, secret)).status).toBe(403); // "unknown" is cached too
    const notified = heard();
    await insertPlatform(ctx.rt.db, {
      code,
      name: 'late',
      secretEnc: ctx.rt.keyring.encrypt('platform-secrets', secret),
    });
    await notified;
    expect((await send(code, secret)).status).toBe(202);
  });
});
