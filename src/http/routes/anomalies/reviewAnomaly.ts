import { createRoute, z } from '@hono/zod-openapi';
import { findAnomaly, reviewAnomaly } from '../../../repositories/anomalies-query.repository';
import type { App } from '../../app';
import { addAuditSubjects, canSee, officerScope, ROLES_FOR, requireRole } from '../../auth';
import { ProblemError, problemResponse as problemDoc } from '../../problems';
import { notFoundError, type QueryRouteDeps, readErrors } from '../query-wire';
import { anomalySchema, anomalyTradeIds, anomalyWire } from './anomaly-schema';
import { anomalyIdParam, parseAnomalyId } from './getAnomaly';

export const reviewBody = z
  .object({
    decision: z.enum(['confirmed', 'dismissed'], { error: 'must be "confirmed" or "dismissed"' }),
    note: z
      .string({ error: 'is required: say why' })
      .trim()
      .min(1, 'must not be empty: say why')
      .max(4000, 'must be at most 4000 characters')
      .refine((s) => !s.includes('\u0000'), 'must not contain NUL characters'),
  })
  .openapi('AnomalyReview', { example: { decision: 'confirmed', note: '核实为过票，移交稽查' } });

export const reviewAnomalyRoute = createRoute({
  operationId: 'reviewAnomaly',
  method: 'post',
  path: '/v1/anomalies/{id}/review',
  tags: ['anomalies'],
  summary: 'Confirm or dismiss a finding (supervisor)',
  description:
    'Records the decision with the reviewer, note and time, and keeps every decision in the history; a decision may be ' +
    'revised. A closed finding cannot be reviewed (409). A dismissed finding that fires again on different facts reopens.',
  security: [{ bearer: [] }],
  middleware: [requireRole(...ROLES_FOR.reviewAnomalies)] as const,
  request: {
    params: anomalyIdParam,
    body: { required: true, content: { 'application/json': { schema: reviewBody } } },
  },
  responses: {
    200: {
      description: 'The finding after the review',
      content: { 'application/json': { schema: anomalySchema } },
    },
    ...readErrors(),
    403: problemDoc('Only supervisors review findings'),
    ...notFoundError('No such finding within your districts'),
    409: problemDoc('The finding is closed: the facts no longer support it'),
  },
});

export function registerReviewAnomaly(app: App, deps: QueryRouteDeps): void {
  app.openapi(reviewAnomalyRoute, async (c) => {
    const officer = c.get('officer')!;
    const id = parseAnomalyId(c.req.valid('param').id);
    const body = c.req.valid('json');
    const row = id === null ? null : await findAnomaly(deps.db, id);
    if (!row || !canSee(officerScope(officer), row.division)) {
      throw new ProblemError('not_found', 'No such finding within your districts.');
    }
    const outcome = await reviewAnomaly(deps.db, row.id, {
      decision: body.decision,
      note: body.note,
      reviewer: officer.login,
    });
    if (outcome === 'not_found')
      throw new ProblemError('not_found', 'No such finding within your districts.');
    if (outcome === 'closed')
      throw new ProblemError('conflict', 'The finding is closed: the facts no longer support it.');
    const after = (await findAnomaly(deps.db, row.id))!;
    addAuditSubjects(c, { parties: [after.party_key], trades: anomalyTradeIds(after) });
    return c.json(anomalyWire(after), 200);
  });
}
