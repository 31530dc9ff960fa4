import { createRoute, z } from '@hono/zod-openapi';
import type { Db } from '../../../db/database';
import { type AuditEntry, listAuditEntries } from '../../../repositories/audit.repository';
import { OFFICER_LOGIN } from '../../../repositories/officers.repository';
import type { App } from '../../app';
import { ROLES_FOR, requireRole } from '../../auth';
import { problemResponse as problemDoc, retryAfterHeader } from '../../problems';
import { cursorParam, DEFAULT_LIMIT, limitParam } from '../pagination';
import { instantParam } from '../query-wire';

export interface AuditRouteDeps {
  db: Db;
}

const MAX_ID = 9_223_372_036_854_775_807n;

/** Opaque cursor: base64url of the last returned id. */
export function encodeCursor(id: bigint): string {
  return Buffer.from(id.toString(), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): bigint | null {
  if (!/^[A-Za-z0-9_-]{1,28}$/.test(cursor)) return null;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[1-9]\d{0,18}$/.test(text)) return null;
  // Only the canonical spelling: one id, one cursor.
  if (encodeCursor(BigInt(text)) !== cursor) return null;
  const id = BigInt(text);
  return id <= MAX_ID ? id : null;
}

const querySchema = z
  .object({
    actor: z
      .string()
      .regex(OFFICER_LOGIN, 'must be an officer login')
      .optional()
      .openapi({ description: 'Only entries by this officer (login)', example: 'li.wei' }),
    from: instantParam('Entries at or after this time (inclusive)', '2026-10-01T00:00:00+08:00'),
    to: instantParam('Entries before this time (exclusive)', '2026-11-01T00:00:00+08:00'),
    limit: limitParam(),
    cursor: cursorParam(decodeCursor, 'MTIzNA'),
  })
  .superRefine((q, ctx) => {
    if (q.from !== undefined && q.to !== undefined && Date.parse(q.from) >= Date.parse(q.to)) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be later than `from`' });
    }
  });

const entrySchema = z
  .object({
    id: z.string().openapi({ description: 'Position in the log (decimal string)', example: '1234' }),
    at: z
      .string()
      .openapi({ description: 'When the request arrived', example: '2026-10-02T08:15:00.123+08:00' }),
    actor: z.string().openapi({ example: 'li.wei' }),
    role: z.enum(['officer', 'supervisor', 'auditor', 'admin']),
    method: z.string().openapi({ example: 'GET' }),
    endpoint: z
      .string()
      .openapi({ description: "Route template, or 'unmatched'", example: '/v1/trades/:id' }),
    path: z.string().openapi({ example: '/v1/trades/jmrr:T-1001' }),
    query: z
      .record(z.string(), z.union([z.string(), z.array(z.string())]))
      .openapi({ description: 'Query parameters as sent', example: {} }),
    status: z.number().int().openapi({ description: 'HTTP status of the answer', example: 200 }),
    parties: z
      .array(z.string())
      .openapi({ description: 'Party keys the answer disclosed', example: ['91440703MA51XXXX0X'] }),
    trades: z.array(z.string()).openapi({ description: 'Trade ids the answer disclosed', example: ['1001'] }),
    pii_unmasked: z.boolean().openapi({ description: 'Whether id or account numbers were shown in clear' }),
    request_id: z.string().nullable().openapi({ example: '3f1c2a9e-6a1b-4c55-9d7e-2b8f0c1d4e5f' }),
    prev_hash: z.string().openapi({ description: 'Hex HMAC-SHA256 of the previous entry' }),
    hash: z.string().openapi({ description: 'Hex HMAC-SHA256 chaining this entry to the previous one' }),
  })
  .openapi('AuditEntry');

const pageSchema = z
  .object({
    items: z.array(entrySchema),
    next_cursor: z
      .string()
      .nullable()
      .openapi({ description: 'Pass as `cursor` for the next page; null at the end' }),
  })
  .openapi('AuditEntryList');

export const listAuditEntriesRoute = createRoute({
  operationId: 'listAuditEntries',
  method: 'get',
  path: '/v1/audit',
  tags: ['audit'],
  summary: 'The audit log of officer requests (auditor)',
  description:
    'Every request by an authenticated officer, newest first: who, when, which endpoint and parameters, the status, and ' +
    'which parties and trades the answer disclosed, and whether personal data was unmasked. The log is append-only and ' +
    'hash-chained (`retrace audit verify` checks it). Requests to this endpoint are themselves audited.',
  security: [{ bearer: [] }],
  middleware: [requireRole(...ROLES_FOR.readAudit)] as const,
  request: { query: querySchema },
  responses: {
    200: {
      description: 'A page of entries',
      content: {
        'application/json': {
          schema: pageSchema,
          example: {
            items: [
              {
                id: '1234',
                at: '2026-10-02T08:15:00.123+08:00',
                actor: 'li.wei',
                role: 'officer',
                method: 'GET',
                endpoint: '/v1/trades/:id',
                path: '/v1/trades/jmrr:T-1001',
                query: {},
                status: 200,
                parties: ['91350100M000100Y43', 'np_mfrggzdfmztwq2lknnwg23tpobyxe43u'],
                trades: ['1001'],
                pii_unmasked: false,
                request_id: '3f1c2a9e-6a1b-4c55-9d7e-2b8f0c1d4e5f',
                prev_hash: '9c1f0b6e4a2d7c3b8e5f1a0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b',
                hash: '5e0a4c2b9d8f7e6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a',
              },
            ],
            next_cursor: 'MTIzNA',
          },
        },
      },
    },
    400: problemDoc('Invalid parameter (`errors[].pointer` like `/query/limit`)'),
    401: problemDoc('Missing or invalid bearer token'),
    403: problemDoc('The token is not an auditor'),
    429: { ...problemDoc('Too many failed authentication attempts'), headers: retryAfterHeader },
    503: { ...problemDoc('Storage unavailable (nothing answered unaudited)'), headers: retryAfterHeader },
  },
});

/** RFC 3339 in Asia/Shanghai (UTC+8 all year, no DST), milliseconds kept. */
function shanghaiTime(d: Date): string {
  return new Date(d.getTime() + 8 * 3600_000).toISOString().replace('Z', '+08:00');
}

function toWire(e: AuditEntry): z.infer<typeof entrySchema> {
  return {
    id: e.id.toString(),
    at: shanghaiTime(e.at),
    actor: e.actor,
    role: e.role as z.infer<typeof entrySchema>['role'],
    method: e.method,
    endpoint: e.endpoint,
    path: e.path,
    query: e.query,
    status: e.status,
    parties: e.parties,
    trades: e.trades,
    pii_unmasked: e.piiUnmasked,
    request_id: e.requestId,
    prev_hash: e.prevHash.toString('hex'),
    hash: e.hash.toString('hex'),
  };
}

/** The bearer security scheme of the officer API, registered once per app. */
export function registerBearerScheme(app: App): void {
  const known = app.openAPIRegistry.definitions.some(
    (d) => d.type === 'component' && d.componentType === 'securitySchemes' && d.name === 'bearer',
  );
  if (!known) {
    app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
      type: 'http',
      scheme: 'bearer',
      description: 'An officer token (`rt_…`) from `retrace officer add` or `officer rotate-token`.',
    });
  }
}

/**
 * GET /v1/audit. Authentication and the audit entry itself come from `officerGate` (mounted on
 * /v1/* before this); the route checks the auditor role before it looks at the parameters.
 */
export function registerAudit(app: App, deps: AuditRouteDeps): void {
  registerBearerScheme(app);
  app.openapi(listAuditEntriesRoute, async (c) => {
    const q = c.req.valid('query');
    const limit = q.limit === undefined ? DEFAULT_LIMIT : Number(q.limit);
    const { items, more } = await listAuditEntries(deps.db, {
      actor: q.actor,
      from: q.from === undefined ? undefined : new Date(q.from),
      to: q.to === undefined ? undefined : new Date(q.to),
      beforeId: q.cursor === undefined ? undefined : (decodeCursor(q.cursor) ?? undefined),
      limit,
    });
    const last = items[items.length - 1];
    return c.json(
      { items: items.map(toWire), next_cursor: more && last ? encodeCursor(last.id) : null },
      200,
    );
  });
}
