import { createRoute, z } from '@hono/zod-openapi';
import { anomalyHistory, findAnomaly } from '../../../repositories/anomalies-query.repository';
import type { App } from '../../app';
import { addAuditSubjects, canSee, officerScope, ROLES_FOR, requireRole } from '../../auth';
import { ProblemError } from '../../problems';
import { notFoundError, type QueryRouteDeps, readErrors, shanghaiTime, timeString } from '../query-wire';
import { anomalySchema, anomalyTradeIds, anomalyWire } from './anomaly-schema';

export const anomalyIdParam = z.object({
  id: z.string().openapi({ param: { name: 'id', in: 'path' }, description: 'Finding id', example: '4211' }),
});

export function parseAnomalyId(id: string): bigint | null {
  return /^[1-9]\d{0,17}$/.test(id) ? BigInt(id) : null;
}

export const anomalyDetailSchema = anomalySchema
  .extend({
    history: z
      .array(
        z.object({
          at: timeString('When'),
          kind: z.enum(['detected', 'updated', 'closed', 'reopened', 'confirmed', 'dismissed']),
          actor: z
            .string()
            .openapi({ description: '`rule-engine`, `replay`, or the reviewing officer’s login' }),
          note: z.string().nullable(),
        }),
      )
      .openapi({
        description: 'Every change of the finding: detections, updates, closings, reopenings and reviews',
      }),
  })
  .openapi('AnomalyDetail');

export const getAnomalyRoute = createRoute({
  operationId: 'getAnomaly',
  method: 'get',
  path: '/v1/anomalies/{id}',
  tags: ['anomalies'],
  summary: 'One finding with its evidence and history',
  security: [{ bearer: [] }],
  middleware: [requireRole(...ROLES_FOR.readRecords)] as const,
  request: { params: anomalyIdParam },
  responses: {
    200: { description: 'The finding', content: { 'application/json': { schema: anomalyDetailSchema } } },
    ...readErrors(),
    ...notFoundError('No such finding within your districts'),
  },
});

export function registerGetAnomaly(app: App, deps: QueryRouteDeps): void {
  app.openapi(getAnomalyRoute, async (c) => {
    const id = parseAnomalyId(c.req.valid('param').id);
    const row = id === null ? null : await findAnomaly(deps.db, id);
    if (!row || !canSee(officerScope(c.get('officer')!), row.division)) {
      throw new ProblemError('not_found', 'No such finding within your districts.');
    }
    const history = await anomalyHistory(deps.db, row.id);
    addAuditSubjects(c, { parties: [row.party_key], trades: anomalyTradeIds(row) });
    return c.json(
      {
        ...anomalyWire(row),
        history: history.map((h) => ({
          at: shanghaiTime(h.at as Date),
          kind: h.kind as 'detected',
          actor: h.actor,
          note: h.note,
        })),
      },
      200,
    );
  });
}
