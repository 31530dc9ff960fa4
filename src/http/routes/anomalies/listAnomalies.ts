import { createRoute, z } from '@hono/zod-openapi';
import { isValidDivision } from '../../../domain/ids';
import { RULE_CODES, SEVERITIES } from '../../../domain/rules/types';
import { listAnomalies } from '../../../repositories/anomalies-query.repository';
import type { App } from '../../app';
import { addAuditSubjects, divisionFilter, officerScope, ROLES_FOR, requireRole } from '../../auth';
import { cursorParam, DEFAULT_LIMIT, limitParam } from '../pagination';
import { partyKeyParam, type QueryRouteDeps, readErrors } from '../query-wire';
import { ANOMALY_STATUSES, anomalySchema, anomalyTradeIds, anomalyWire } from './anomaly-schema';

export function encodeAnomalyCursor(id: bigint): string {
  return Buffer.from(`a${id}`, 'utf8').toString('base64url');
}

export function decodeAnomalyCursor(cursor: string): bigint | null {
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(cursor)) return null;
  const m = /^a([1-9]\d{0,18})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m || BigInt(m[1]!) > 9_223_372_036_854_775_807n) return null;
  return encodeAnomalyCursor(BigInt(m[1]!)) === cursor ? BigInt(m[1]!) : null;
}

export const listAnomaliesQuery = z.object({
  division: z
    .string()
    .refine(isValidDivision, 'must be a 6-digit division code below province level, e.g. 440703')
    .optional()
    .openapi({
      description: 'Findings of parties in this division, within your own divisions',
      example: '440703',
    }),
  rule: z.enum(RULE_CODES, { error: 'must be a rule code of DOMAIN.md section 7' }).optional(),
  severity: z.enum(SEVERITIES, { error: `must be one of ${SEVERITIES.join(', ')}` }).optional(),
  status: z.enum(ANOMALY_STATUSES, { error: `must be one of ${ANOMALY_STATUSES.join(', ')}` }).optional(),
  party: partyKeyParam('Findings whose subject is this party').optional(),
  period: z
    .string()
    .regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be a month YYYY-MM')
    .optional()
    .openapi({ description: 'Asia/Shanghai month', example: '2026-10' }),
  limit: limitParam(),
  cursor: cursorParam(decodeAnomalyCursor, 'YTQyMTE'),
});

export const listAnomaliesRoute = createRoute({
  operationId: 'listAnomalies',
  method: 'get',
  path: '/v1/anomalies',
  tags: ['anomalies'],
  summary: 'Findings of the rule engine within your districts, newest first',
  description:
    'A finding belongs to the district of its subject party; filters never widen your scope (a division outside it gives ' +
    'an empty list). Closed findings (the facts no longer support them) are left out unless asked for with ' +
    '`status=closed`.',
  security: [{ bearer: [] }],
  middleware: [requireRole(...ROLES_FOR.readRecords)] as const,
  request: { query: listAnomaliesQuery },
  responses: {
    200: {
      description: 'A page of findings',
      content: {
        'application/json': {
          schema: z
            .object({ items: z.array(anomalySchema), next_cursor: z.string().nullable() })
            .openapi('AnomalyList'),
        },
      },
    },
    ...readErrors(),
  },
});

export function registerListAnomalies(app: App, deps: QueryRouteDeps): void {
  app.openapi(listAnomaliesRoute, async (c) => {
    const q = c.req.valid('query');
    const officer = c.get('officer')!;
    const limit = q.limit ? Number(q.limit) : DEFAULT_LIMIT;
    const rows = await listAnomalies(deps.db, {
      scope: divisionFilter(officerScope(officer)),
      division: q.division ? divisionFilter({ all: false, divisions: [q.division] }) : undefined,
      rule: q.rule,
      severity: q.severity,
      status: q.status,
      party: q.party,
      period: q.period,
      beforeId: q.cursor ? (decodeAnomalyCursor(q.cursor) ?? undefined) : undefined,
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    addAuditSubjects(c, { parties: page.map((a) => a.party_key), trades: page.flatMap(anomalyTradeIds) });
    return c.json(
      {
        items: page.map(anomalyWire),
        next_cursor: rows.length > limit ? encodeAnomalyCursor(page[page.length - 1]!.id) : null,
      },
      200,
    );
  });
}
