import pg from 'pg';
import { Auditor } from '../../src/audit/audit';
import { type App, createBaseApp } from '../../src/http/app';
import { officerGate } from '../../src/http/auth';
import { registerAudit } from '../../src/http/routes/audit/listAuditEntries';
import type { TokenRevocations } from '../../src/http/token-revocations';
import { insertOfficer, type OfficerRole } from '../../src/repositories/officers.repository';
import { type TestContext, uid } from './context';

export interface TestOfficer {
  login: string;
  token: string;
  role: OfficerRole;
}

/** Creates an officer with a fresh token (unique login unless given). */
export async function addOfficer(
  ctx: TestContext,
  o: { login?: string; role?: OfficerRole; divisions?: string[]; pii?: boolean } = {},
): Promise<TestOfficer> {
  const login = o.login ?? uid('off.').toLowerCase();
  const role = o.role ?? 'officer';
  const token = await insertOfficer(ctx.rt.db, ctx.rt.keyring, {
    login,
    role,
    divisions: o.divisions ?? ['440703'],
    pii: o.pii ?? false,
  });
  if (!token) throw new Error(`officer ${login} exists`);
  return { login, token, role };
}

export interface OfficerApp {
  app: App;
  auditor: Auditor;
}

/**
 * The officer side of the API as create-app.ts wires it: the gate (auth + audit) on /v1/*, then
 * the routes. `routes` adds test-only routes after the gate. The client IP comes from the
 * `x-test-client` header so that rate-limit tests do not spill over each other.
 */
export function buildOfficerApp(
  ctx: TestContext,
  opts: {
    auditor?: Auditor;
    failureLimitPerMinute?: number;
    now?: () => number;
    tokenCacheTtlMs?: number;
    tokenChanges?: TokenRevocations;
    routes?: (app: App) => void;
  } = {},
): OfficerApp {
  const auditor = opts.auditor ?? new Auditor({ db: ctx.rt.db, keyring: ctx.rt.keyring });
  const app = createBaseApp({ log: ctx.rt.log, metrics: ctx.rt.metrics });
  app.use(
    '/v1/*',
    officerGate({
      db: ctx.rt.db,
      keyring: ctx.rt.keyring,
      redis: ctx.rt.queues.redis,
      redisPrefix: ctx.redisPrefix,
      auditor,
      failureLimitPerMinute: opts.failureLimitPerMinute,
      now: opts.now,
      tokenCacheTtlMs: opts.tokenCacheTtlMs,
      tokenChanges: opts.tokenChanges,
      clientIp: (c) => c.req.header('x-test-client') ?? '127.0.0.1',
    }),
  );
  opts.routes?.(app);
  registerAudit(app, { db: ctx.rt.db });
  return { app, auditor };
}

export function bearer(token: string, extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${token}`, ...extra };
}

/** Runs SQL as the test superuser on the file's own database (e.g. to disable a trigger). */
export async function asSuperuser<T>(ctx: TestContext, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ctx.databaseUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
