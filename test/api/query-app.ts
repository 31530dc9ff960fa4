import { expect } from 'vitest';
import { registerParties } from '../../src/http/routes/parties';
import { registerTrades } from '../../src/http/routes/trades';
import { type AnyJson, json, type TestContext } from '../support/context';
import { bearer, buildOfficerApp, type OfficerApp } from '../support/officers';
import { drain } from '../support/pipeline';

/**
 * The officers' query API as create-app.ts will wire it: the gate (auth + audit) on /v1/*, then the
 * trades and parties routes.
 */
export function buildQueryApp(ctx: TestContext): OfficerApp {
  return buildOfficerApp(ctx, {
    routes: (app) => {
      const deps = { db: ctx.rt.db, keyring: ctx.rt.keyring };
      registerTrades(app, deps);
      registerParties(app, deps);
    },
  });
}

/** GET with a bearer token (or none); returns status, raw text and parsed body. */
export async function getAs(
  oa: OfficerApp,
  path: string,
  token?: string,
): Promise<{ status: number; text: string; body: AnyJson; res: Response }> {
  const res = await oa.app.request(path, { headers: token ? bearer(token) : {} });
  const text = await res.clone().text();
  let body: AnyJson = null;
  try {
    body = await json(res);
  } catch {
    body = null;
  }
  return { status: res.status, text, body, res };
}

/**
 * Pushes signed events through the real ingestion endpoint, then runs processing to the end.
 * The rule engine is left out: these tests insert the findings they need, so that every figure
 * they assert is known by hand (the engine has its own tests).
 */
export async function push(
  ctx: TestContext,
  platform: { code: string; secret: string },
  ...events: unknown[]
): Promise<void> {
  for (const e of events) {
    const res = await ctx.post(`/v1/ingest/${platform.code}/events`, JSON.stringify(e), {
      secret: platform.secret,
    });
    expect(res.status, JSON.stringify(await res.clone().json())).toBe(202);
  }
  await drain(ctx, { rules: false });
}

/** The audit entries of one officer, oldest first. */
export async function auditOf(ctx: TestContext, login: string) {
  return ctx.rt.db.selectFrom('audit_log').selectAll().where('actor', '=', login).orderBy('id').execute();
}
