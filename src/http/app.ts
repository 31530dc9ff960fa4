import { randomUUID } from 'node:crypto';
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AuditSubjects } from '../audit/audit';
import { isUnavailableError } from '../db/database';
import type { Logger } from '../log';
import type { Metrics } from '../ops/metrics';
import { auditText } from '../repositories/audit.repository';
import type { AuthOfficer } from './auth';
import { requestHeader } from './node-request';
import { type FieldError, ProblemError, problemBody, zodIssuesToFieldErrors } from './problems';

export interface AppEnv {
  Variables: {
    log: Logger;
    requestId: string;
    /** The authenticated officer (set by `authenticate` in ./auth on officer routes). */
    officer?: AuthOfficer;
    /** What the response disclosed, for the audit entry: see `addAuditSubjects` in ./auth. */
    auditSubjects?: AuditSubjects;
  };
}

export type App = OpenAPIHono<AppEnv>;

export function problemResponse(c: Context, err: ProblemError): Response {
  const headers: Record<string, string> = { 'content-type': 'application/problem+json' };
  if (err.extra.retryAfterSeconds !== undefined) headers['retry-after'] = String(err.extra.retryAfterSeconds);
  return c.body(JSON.stringify(err.toBody()), err.status as 400, headers);
}

/**
 * The app shell shared by every route: request ids, one log line per request, latency metrics,
 * and errors as RFC 9457 problems. Nothing a client sends may turn into a 5xx: unexpected errors
 * are logged with their stack and answered with a bare 500 (no stack in the body), storage
 * outages with 503 and Retry-After.
 */
export function createBaseApp(deps: { log: Logger; metrics: Metrics }): App {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const errors: FieldError[] = zodIssuesToFieldErrors(
          result.error.issues,
          result.target === 'json' ? '' : `/${result.target}`,
        );
        return problemResponse(c, new ProblemError('validation', 'The request is not valid.', { errors }));
      }
    },
  });

  app.use(async (c, next) => {
    // As hono's requestId middleware, reading the header without building a Headers object.
    const given = requestHeader(c, 'x-request-id');
    const id = given && given.length <= 255 && !/[^\w\-=]/.test(given) ? given : randomUUID();
    c.set('requestId', id);
    c.header('x-request-id', id);
    await next();
  });
  app.use(async (c, next) => {
    const started = performance.now();
    c.set('log', deps.log.child({ request_id: c.get('requestId') }));
    await next();
    const seconds = (performance.now() - started) / 1000;
    const route = c.req.routePath || 'unmatched';
    deps.metrics.httpDuration.observe({ method: c.req.method, route, status: String(c.res.status) }, seconds);
    if (route !== '/metrics' && route !== '/healthz' && route !== '/readyz') {
      c.get('log').info(
        {
          method: c.req.method,
          route,
          // An id number typed into a path is not written to the log in clear (as in the audit log).
          path: auditText(c.req.path),
          status: c.res.status,
          ms: Math.round(seconds * 1000),
        },
        'request',
      );
    }
  });

  app.onError((err, c) => {
    if (err instanceof ProblemError) return problemResponse(c, err);
    if (isUnavailableError(err)) {
      return problemResponse(
        c,
        new ProblemError('unavailable', 'A backing service is unavailable. Retry later.', {
          retryAfterSeconds: 5,
        }),
      );
    }
    // The backstop for text PostgreSQL cannot store (U+0000 in a JSON body, say), which only a
    // client's input can carry: 22021 character_not_in_repertoire, 22P05 untranslatable_character.
    const code = (err as { code?: unknown }).code;
    if (code === '22021' || code === '22P05') {
      return problemResponse(
        c,
        new ProblemError(
          'malformed',
          'The request contains text that cannot be stored (U+0000 or an invalid character).',
        ),
      );
    }
    // Hono's own HTTP errors (e.g. malformed JSON in a validator) carry a 4xx status.
    const status = (err as { status?: number }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return problemResponse(
        c,
        new ProblemError(
          status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : 'malformed',
          err.message,
        ),
      );
    }
    (c.get('log') ?? deps.log).error({ err }, 'unhandled error');
    return c.body(
      JSON.stringify(problemBody('internal', 'An unexpected error occurred; it has been logged.')),
      500,
      {
        'content-type': 'application/problem+json',
      },
    );
  });

  // A path that exists with other methods is a 405 with `Allow`, not a 404. The routes are read
  // when the first such request comes: by then every route is registered.
  let routes: { method: string; pattern: RegExp }[] | null = null;
  app.notFound((c) => {
    routes ??= app.routes
      .filter((r) => r.method !== 'ALL')
      .map((r) => ({
        method: r.method,
        pattern: new RegExp(`^${r.path.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/:[^/]+/g, '[^/]+')}$`),
      }));
    const allowed = [...new Set(routes.filter((r) => r.pattern.test(c.req.path)).map((r) => r.method))];
    if (allowed.length > 0) {
      if (allowed.includes('GET')) allowed.push('HEAD');
      c.header('allow', allowed.join(', '));
      return problemResponse(
        c,
        new ProblemError(
          'method_not_allowed',
          `${c.req.method} is not allowed here; use ${allowed.join(' or ')}.`,
        ),
      );
    }
    return problemResponse(c, new ProblemError('not_found', `No resource at ${auditText(c.req.path)}.`));
  });
  return app;
}
