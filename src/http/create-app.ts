import { bodyLimit } from 'hono/body-limit';
import { Auditor } from '../audit/audit';
import type { Db } from '../db/database';
import type { IngestService } from '../ingest/ingest.service';
import type { Logger } from '../log';
import type { Metrics } from '../ops/metrics';
import type { EventQueues } from '../queue/producer';
import type { Keyring } from '../security/keys';
import { type App, createBaseApp, problemResponse } from './app';
import { officerGate, type TokenChanges } from './auth';
import { PROBLEM_TYPES, type ProblemCode, ProblemError, problemBody } from './problems';
import { registerAnomalies } from './routes/anomalies';
import { registerAudit } from './routes/audit/listAuditEntries';
import { registerDocs } from './routes/docs';
import { registerIngest } from './routes/ingest';
import { registerOps } from './routes/ops';
import { registerParties } from './routes/parties';
import { registerReports } from './routes/reports';
import { registerTrades } from './routes/trades';

export interface AppDeps {
  db: Db;
  queues: EventQueues;
  ingest: IngestService;
  metrics: Metrics;
  log: Logger;
  keyring: Keyring;
  redisPrefix: string;
  auditor?: Auditor;
  /** See `AuthDeps.tokenCacheTtlMs` (src/http/auth.ts); default 0, no cache. */
  tokenCacheTtlMs?: number;
  /** See `AuthDeps.tokenChanges` (src/http/auth.ts). */
  tokenChanges?: TokenChanges;
}

export const OPENAPI_INFO = {
  openapi: '3.1.0',
  info: {
    title: 'Retrace API',
    version: '1.0.0',
    description:
      'Recycling-sector transaction data for VAT management (Jiangmen tax bureau). Trading platforms push signed records; ' +
      'tax officers query reconciled trades, transaction chains, VAT reference sheets and anomalies. ' +
      'Money is a decimal string in CNY (at most 2 decimals); quantities are decimal strings with a unit; times are RFC 3339 with offset; ' +
      'periods are Asia/Shanghai calendar months (YYYY-MM). Errors are RFC 9457 problem details.',
  },
};

/** The largest body an officer's request may carry (ingestion has its own limits). */
export const OFFICER_BODY_LIMIT_BYTES = 64 * 1024;

export function createApp(deps: AppDeps): App {
  const app = createBaseApp(deps);
  const auditor = deps.auditor ?? new Auditor({ db: deps.db, keyring: deps.keyring });
  // Officers' endpoints: bearer authentication and one audit entry per request. Registered
  // before every /v1 route, because Hono runs middleware in registration order.
  app.use(
    '/v1/*',
    officerGate({
      db: deps.db,
      keyring: deps.keyring,
      redis: deps.queues.redis,
      redisPrefix: deps.redisPrefix,
      auditor,
      log: deps.log,
      tokenCacheTtlMs: deps.tokenCacheTtlMs,
      tokenChanges: deps.tokenChanges,
    }),
  );
  // Officers send small JSON bodies (a review decision, a report request): past 64 KiB the request
  // is a 413, refused as it streams in rather than read whole.
  for (const path of ['/v1/anomalies/*', '/v1/reports']) {
    app.use(
      path,
      bodyLimit({
        maxSize: OFFICER_BODY_LIMIT_BYTES,
        onError: (c) =>
          problemResponse(
            c,
            new ProblemError('payload_too_large', 'A request body may hold at most 64 KiB.'),
          ),
      }),
    );
  }
  registerOps(app, deps);
  registerIngest(app, deps.ingest);
  registerAudit(app, { db: deps.db });
  registerTrades(app, { db: deps.db, keyring: deps.keyring });
  registerParties(app, { db: deps.db, keyring: deps.keyring });
  registerReports(app, { db: deps.db, queues: deps.queues, log: deps.log });
  registerAnomalies(app, { db: deps.db, keyring: deps.keyring });
  registerDocs(app);
  // The generated document, with an example on every problem response (built once, on first ask).
  let doc: unknown = null;
  app.get('/openapi.json', (c) => {
    doc ??= withProblemExamples(app.getOpenAPI31Document(OPENAPI_INFO));
    return c.json(doc as object);
  });
  return app;
}

/**
 * Adds to every `application/problem+json` response of the document an example of the body it
 * answers with: the problem type of its status (src/errors.ts) and its description as `detail`.
 */
export function withProblemExamples<T>(doc: T): T {
  const byStatus = new Map<number, ProblemCode>();
  for (const [code, t] of Object.entries(PROBLEM_TYPES) as [ProblemCode, { status: number }][]) {
    if (!byStatus.has(t.status)) byStatus.set(t.status, code);
  }
  type Response = { description?: string; content?: Record<string, { example?: unknown }> };
  const paths = (doc as { paths?: Record<string, Record<string, { responses?: Record<string, Response> }>> })
    .paths;
  for (const item of Object.values(paths ?? {})) {
    for (const op of Object.values(item)) {
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        const media = response.content?.['application/problem+json'];
        const code = byStatus.get(Number(status));
        if (media && code && media.example === undefined)
          media.example = problemBody(code, response.description);
      }
    }
  }
  return doc;
}
