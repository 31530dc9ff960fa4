import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Redis } from 'ioredis';
import { type Auditor, type AuditSubjects, emptySubjects, mergeSubjects } from '../audit/audit';
import type { Db } from '../db/database';
import { divisionCovers, isValidDivision } from '../domain/ids';
import type { Logger } from '../log';
import type { AuditQuery } from '../repositories/audit.repository';
import {
  type DivisionFilter,
  findOfficerByToken,
  hashOfficerToken,
  type OfficerRecord,
  type OfficerRole,
} from '../repositories/officers.repository';
import type { Keyring } from '../security/keys';
import type { PiiPresenter, PiiVault } from '../security/pii';
import { type AppEnv, problemResponse } from './app';
import { ProblemError } from './problems';

/**
 * Officer access to the query API (CONTRACT.md section 3).
 *
 * Mount `officerGate(deps)` on `/v1/*` BEFORE the routes are registered (Hono runs handlers in
 * registration order). For every /v1 path except `/v1/ingest/…` (platforms sign their requests
 * instead) it:
 *   1. authenticates `Authorization: Bearer rt_…` → `c.get('officer')`, or answers 401 (with
 *      `WWW-Authenticate: Bearer`); unknown, revoked and disabled tokens are indistinguishable;
 *   2. rate-limits failed authentication per client IP (429 + Retry-After);
 *   3. writes exactly one audit entry for the request (any status: 200, 400, 403, 404, 500…).
 *
 * Routes then check the role with `requireRole(...)` (as `middleware` in `createRoute`, so the
 * role is checked before the parameters) and the division scope with `officerScope`/`canSee`/
 * `divisionFilter`; out of scope is 404, never 403 (no existence oracle).
 *
 * ## Audit subjects — the contract for route handlers
 * Before returning, a handler that discloses parties or trades declares them:
 *
 *   addAuditSubjects(c, { parties: ['91440703…', 'np_…'], trades: [trade.id], piiUnmasked })
 *
 * - `parties`: the party keys (USCC or person key, never a raw id number) of every party whose
 *   data the response contains — a list, a profile, a chain's nodes;
 * - `trades`: the internal ids (bigint or decimal string) of every trade in the response;
 * - `piiUnmasked`: true when an id number or account number was shown in clear. Use
 *   `piiPresenter(c, vault)` to mask/unmask: it flags this by itself.
 * Calls accumulate (deduplicated), so a handler may call it once per item. Declaring nothing is
 * right for responses that disclose no party or trade (errors, the audit log itself).
 *
 * ## Why the audit write comes before the response
 * The entry is written after the handler has built the response and before it is sent. If the
 * write fails the client gets 503 + Retry-After instead of the data: taxpayer data must never
 * leave unaudited (DOMAIN.md section 8). The cost is one short transaction per request, batched
 * across concurrent requests by the Auditor.
 *
 * ## Roles
 * officer < supervisor (officer + review anomalies + reports); auditor reads the audit log only;
 * admin manages platforms, officers and reference data only. Trade and party data is for officer
 * and supervisor: neither auditor nor admin reads it (separation of duties — the people who check
 * the log or hand out access are not the people who look at taxpayers). See `ROLES_FOR`.
 */

export interface AuthOfficer {
  login: string;
  role: OfficerRole;
  divisions: string[];
  pii: boolean;
}

/** Which roles may do what. Routes use `requireRole(...ROLES_FOR.readRecords)`. */
export const ROLES_FOR = {
  /** Trades, chains, parties, summaries, anomalies (read). */
  readRecords: ['officer', 'supervisor'],
  /** POST /v1/anomalies/{id}/review. */
  reviewAnomalies: ['supervisor'],
  /** POST /v1/reports (producing a report); reading reports is readRecords within the division scope. */
  runReports: ['supervisor'],
  /** GET /v1/audit. */
  readAudit: ['auditor'],
  /** Platforms, officers, reference data. */
  administer: ['admin'],
} as const satisfies Record<string, readonly OfficerRole[]>;

// ---------------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------------

export interface AuthDeps {
  db: Db;
  keyring: Keyring;
  /** Counters for failed attempts; when Redis is away the limiter lets requests through. */
  redis: Redis;
  redisPrefix: string;
  /** Failed attempts per client IP and minute before 429 (default 20). */
  failureLimitPerMinute?: number;
  /**
   * The client's address. Default: the TCP peer. Behind a reverse proxy, pass a function that
   * reads the proxy's X-Forwarded-For entry — never trust that header from the open internet.
   */
  clientIp?: (c: Context<AppEnv>) => string;
  /** Clock for the rate-limit windows and the token cache (tests). */
  now?: () => number;
  /**
   * How long a verified token is trusted without asking the database again, in ms (default 0:
   * every request asks). Only successful verifications are kept. `serve api` uses
   * OFFICER_TOKEN_CACHE_MS with `tokenChanges`, so a token revoked or rotated, or an officer
   * disabled, by another process (the `retrace officer` CLI) stops working as soon as the change
   * commits; without `tokenChanges` it keeps working for at most this long.
   */
  tokenCacheTtlMs?: number;
  /** Token changes heard from other processes: the cache empties on each (see OfficerTokenCache). */
  tokenChanges?: TokenChanges;
}

/** Entries kept at most by `OfficerTokenCache`; past that it starts afresh (no unbounded growth). */
const TOKEN_CACHE_MAX = 10_000;

/** What the cache needs to hear of token changes made by other processes (src/http/token-revocations.ts). */
export interface TokenChanges {
  readonly listening: boolean;
  onChange(fn: () => void): () => void;
}

/**
 * Verified tokens for a short time, keyed by the token's keyed hash (the raw token is not kept).
 * With `changes` (as `serve api` runs it), the cache is emptied as soon as any officer's tokens or
 * status change, and not used at all while those changes cannot be heard; the TTL bounds what a
 * missed notification could cost. Without it, a revoked token keeps working for at most the TTL.
 */
export class OfficerTokenCache {
  private readonly entries = new Map<string, { officer: OfficerRecord; until: number }>();
  /** Bumped on every change: a lookup that began before it must not fill the cache. */
  private generation = 0;

  constructor(
    private readonly db: Db,
    private readonly keyring: Keyring,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    private readonly changes?: TokenChanges,
  ) {
    changes?.onChange(() => this.clear());
  }

  clear(): void {
    this.generation += 1;
    this.entries.clear();
  }

  async verify(token: string): Promise<OfficerRecord | null> {
    if (this.ttlMs <= 0 || (this.changes && !this.changes.listening)) {
      return findOfficerByToken(this.db, this.keyring, token);
    }
    const key = hashOfficerToken(this.keyring, token).toString('base64');
    const t = this.now();
    const hit = this.entries.get(key);
    if (hit && hit.until > t) return hit.officer;
    if (hit) this.entries.delete(key);
    const generation = this.generation;
    const officer = await findOfficerByToken(this.db, this.keyring, token);
    if (officer && generation === this.generation && (!this.changes || this.changes.listening)) {
      if (this.entries.size >= TOKEN_CACHE_MAX) this.entries.clear();
      this.entries.set(key, { officer, until: t + this.ttlMs });
    }
    return officer;
  }
}

// biome-ignore lint/suspicious/noExplicitAny: getConnInfo accepts any environment's context.
export function socketClientIp(c: Context<any>): string {
  try {
    const ip = getConnInfo(c).remote.address;
    if (!ip) return 'unknown';
    return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  } catch {
    // Not served by @hono/node-server (e.g. app.request in tests).
    return 'unknown';
  }
}

/**
 * Failed authentications per client IP in fixed one-minute windows, counted in Redis so the limit
 * holds across API processes. Once over the limit an IP gets 429 without its token being looked
 * at, until the window ends. Fail-open: if Redis is down, nobody is blocked (a counter outage must
 * not lock officers out; tokens are 256-bit random, so guessing gains nothing meanwhile).
 * Requests without any Authorization header are answered 401 but not counted: they try nothing.
 */
export class AuthFailureLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly limitPerMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  private window(): { key: (ip: string) => string; retryAfter: number } {
    const seconds = Math.floor(this.now() / 1000);
    const minute = Math.floor(seconds / 60);
    return {
      key: (ip) => `${this.prefix}:authfail:{${ip}}:${minute}`,
      retryAfter: Math.max(1, 60 - (seconds % 60)),
    };
  }

  /** Seconds to wait when `ip` is over the limit, else null. */
  async blocked(ip: string): Promise<number | null> {
    const w = this.window();
    try {
      const n = Number((await this.redis.get(w.key(ip))) ?? 0);
      return n >= this.limitPerMinute ? w.retryAfter : null;
    } catch {
      return null;
    }
  }

  async fail(ip: string): Promise<void> {
    const key = this.window().key(ip);
    try {
      await this.redis.multi().incr(key).expire(key, 120).exec();
    } catch {
      // Fail-open, see above.
    }
  }
}

const BEARER = /^Bearer +(\S+) *$/i;

function unauthorized(c: Context<AppEnv>, presented: boolean): Response {
  c.header(
    'WWW-Authenticate',
    presented ? 'Bearer realm="retrace", error="invalid_token"' : 'Bearer realm="retrace"',
  );
  return problemResponse(
    c,
    new ProblemError(
      'unauthorized',
      presented
        ? 'The bearer token is not valid.'
        : 'This endpoint needs a bearer token: Authorization: Bearer <token>.',
    ),
  );
}

/**
 * Failed authentications one address may make in a minute before its invalid tokens get 429.
 * Tokens are 256 random bits, so no rate makes guessing one feasible: the limit is against floods
 * (each failure costs a hash and a lookup), and is set well above what honest mistakes produce —
 * a script checking that every endpoint refuses a revoked token makes a few dozen a minute.
 * Requests without a token are not counted (there is nothing to guess with).
 */
export const AUTH_FAILURES_PER_MINUTE = 120;

/** Sets `officer` from the bearer token, or answers 401 / 429. */
export function authenticate(deps: AuthDeps): MiddlewareHandler<AppEnv> {
  const limiter = new AuthFailureLimiter(
    deps.redis,
    deps.redisPrefix,
    deps.failureLimitPerMinute ?? AUTH_FAILURES_PER_MINUTE,
    deps.now,
  );
  const clientIp: (c: Context<AppEnv>) => string = deps.clientIp ?? socketClientIp;
  const tokens = new OfficerTokenCache(
    deps.db,
    deps.keyring,
    deps.tokenCacheTtlMs ?? 0,
    deps.now,
    deps.tokenChanges,
  );
  return async (c, next) => {
    const header = c.req.header('authorization');
    if (header === undefined || header === '') return unauthorized(c, false);
    const ip = clientIp(c);
    // The token first: a valid one goes through whatever the address's failures (an office
    // behind one NAT address, where one person mistyped a token). Only failures are limited:
    // once an address has too many, its invalid tokens get 429 instead of 401. Tokens are 256
    // random bits, so answering a valid one teaches a guesser nothing.
    const token = BEARER.exec(header)?.[1];
    const officer = token ? await tokens.verify(token) : null;
    if (!officer) {
      const wait = await limiter.blocked(ip);
      if (wait !== null) {
        c.get('log')?.warn({ ip }, 'authentication rate limited');
        return problemResponse(
          c,
          new ProblemError('rate_limited', 'Too many failed authentication attempts. Retry later.', {
            retryAfterSeconds: wait,
          }),
        );
      }
      await limiter.fail(ip);
      c.get('log')?.info({ ip }, 'authentication failed');
      return unauthorized(c, true);
    }
    c.set('officer', {
      login: officer.login,
      role: officer.role,
      divisions: officer.divisions,
      pii: officer.pii,
    });
    c.set('log', c.get('log')?.child({ officer: officer.login }));
    await next();
  };
}

/** 403 unless the authenticated officer has one of `roles` (401 when nobody is authenticated). */
export function requireRole(...roles: readonly OfficerRole[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const officer = c.get('officer');
    if (!officer) return unauthorized(c, false);
    if (!roles.includes(officer.role)) {
      return problemResponse(
        c,
        new ProblemError('forbidden', `This operation is for the role(s): ${roles.join(', ')}.`),
      );
    }
    await next();
  };
}

// ---------------------------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------------------------

/** Declares what the response discloses (see the contract at the top of this file). */
export function addAuditSubjects(
  c: Context<AppEnv>,
  more: { parties?: Iterable<string>; trades?: Iterable<string | bigint>; piiUnmasked?: boolean },
): void {
  c.set('auditSubjects', mergeSubjects(c.get('auditSubjects') ?? emptySubjects(), more));
}

/** A PII presenter for this request: masks unless the token has `pii`, audits any unmasking. */
export function piiPresenter(c: Context<AppEnv>, vault: PiiVault): PiiPresenter {
  return vault.presenter(c.get('officer')?.pii === true, () => addAuditSubjects(c, { piiUnmasked: true }));
}

/** The route template that answered, or 'unmatched' when only `app.use` middleware matched. */
function endpointOf(c: Context): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const r = routes[i]!;
    if (r.method !== 'ALL') return r.path;
  }
  return 'unmatched';
}

/**
 * What the request asked for: its query parameters, and for a request with a validated JSON body
 * (POST /v1/reports, POST /v1/anomalies/{id}/review) the body's fields as `body.<name>` — so that
 * the entry says which report or which decision was asked for.
 */
function queryOf(c: Context): AuditQuery {
  const out: AuditQuery = Object.create(null);
  for (const [k, v] of Object.entries(c.req.queries())) out[k] = v.length === 1 ? v[0]! : v;
  let body: unknown;
  try {
    body = c.req.valid('json' as never);
  } catch {
    body = undefined; // no JSON body, or it did not validate (then it was a 400)
  }
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    for (const [k, v] of Object.entries(body)) {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
        out[`body.${k}`] = String(v);
    }
  }
  return out;
}

/**
 * Writes one audit entry per request by an authenticated officer, after the handler and before
 * the response leaves; a failed write turns the response into 503 (see the top of this file).
 */
export function auditMiddleware(auditor: Auditor, log?: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const officer = c.get('officer');
    if (!officer) return next();
    const at = new Date();
    c.set('auditSubjects', emptySubjects());
    await next();
    const subjects: AuditSubjects = c.get('auditSubjects') ?? emptySubjects();
    try {
      await auditor.record({
        at,
        actor: officer.login,
        role: officer.role,
        method: c.req.method,
        endpoint: endpointOf(c),
        path: c.req.path,
        query: queryOf(c),
        status: c.res.status,
        parties: subjects.parties,
        trades: subjects.trades,
        piiUnmasked: subjects.piiUnmasked,
        requestId: c.get('requestId') ?? null,
      });
    } catch (err) {
      (c.get('log') ?? log)?.error({ err }, 'audit write failed: response withheld');
      await c.res.body?.cancel().catch(() => {});
      // Clear first: assigning over a response would copy its headers (Content-Length…) over.
      c.res = undefined;
      c.res = problemResponse(
        c,
        new ProblemError(
          'unavailable',
          'The request could not be audited, so it was not answered. Retry later.',
          {
            retryAfterSeconds: 5,
          },
        ),
      );
    }
  };
}

export interface OfficerGateDeps extends AuthDeps {
  auditor: Auditor;
  log?: Logger;
}

const PLATFORM_PATHS = /^\/v1\/ingest(\/|$)/;

/** Authentication + audit for every officer path under /v1 (platform ingestion excluded). */
export function officerGate(deps: OfficerGateDeps): MiddlewareHandler<AppEnv> {
  const auth = authenticate(deps);
  const audit = auditMiddleware(deps.auditor, deps.log);
  return async (c, next) => {
    if (PLATFORM_PATHS.test(c.req.path)) return next();
    return auth(c, async () => {
      await audit(c, next);
    });
  };
}

// ---------------------------------------------------------------------------------------------
// Division scope
// ---------------------------------------------------------------------------------------------

/**
 * What an officer may see: `all` = no division restriction (only `SYSTEM_SCOPE`, for scheduled
 * jobs that act for the bureau as a whole — no officer token ever gets it); otherwise
 * `divisions`, normalised (valid codes, deduplicated, codes covered by another one dropped).
 */
export interface OfficerScope {
  all: boolean;
  divisions: string[];
}

export const SYSTEM_SCOPE: OfficerScope = Object.freeze({ all: true, divisions: [] }) as OfficerScope;

export function officerScope(officer: { divisions: readonly string[] }): OfficerScope {
  const valid = [...new Set(officer.divisions.filter(isValidDivision))].sort();
  const divisions = valid.filter((d) => !valid.some((other) => other !== d && divisionCovers(other, d)));
  return { all: false, divisions };
}

/** Whether something located in `division` is visible in `scope` (440700 covers every 4407xx). */
export function canSee(scope: OfficerScope, division: string | null | undefined): boolean {
  if (scope.all) return true;
  if (!division) return false;
  return scope.divisions.some((d) => divisionCovers(d, division));
}

/**
 * The scope as exact codes and prefixes, for SQL (`inDivisions(column, filter)` in
 * src/repositories/officers.repository.ts): 440703 → exact '440703'; 440700 → prefix '4407'.
 * Same semantics as `divisionCovers`.
 */
export function divisionFilter(scope: OfficerScope): DivisionFilter {
  if (scope.all) return { all: true, exact: [], prefixes: [] };
  const exact: string[] = [];
  const prefixes: string[] = [];
  for (const d of scope.divisions) {
    if (!/^\d{6}$/.test(d)) continue;
    if (d.endsWith('0000')) prefixes.push(d.slice(0, 2));
    else if (d.endsWith('00')) prefixes.push(d.slice(0, 4));
    else exact.push(d);
  }
  return { all: false, exact, prefixes };
}
