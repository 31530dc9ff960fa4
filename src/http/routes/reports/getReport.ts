import { createRoute } from '@hono/zod-openapi';
import { findReport, listReportFiles } from '../../../repositories/reports.repository';
import type { App } from '../../app';
import { canSee, officerScope, ROLES_FOR, requireRole } from '../../auth';
import { notFoundError, readErrors } from '../query-wire';
import {
  parseReportId,
  type ReportsRouteDeps,
  reportExample,
  reportIdParam,
  reportNotFound,
  reportSchema,
  toReportWire,
} from './report-wire';

export const getReportRoute = createRoute({
  operationId: 'getReport',
  method: 'get',
  path: '/v1/reports/{id}',
  tags: ['reports'],
  summary: 'One report’s metadata',
  description:
    'Who or what requested the report and when, its state, the data clock and rule versions it reflects, its data ' +
    'version, and each file with its size and SHA-256. A report on a division your divisions do not cover answers ' +
    '404, like an unknown one.',
  security: [{ bearer: [] }],
  middleware: [requireRole(...ROLES_FOR.readRecords)] as const,
  request: { params: reportIdParam },
  responses: {
    200: {
      description: 'The report',
      content: { 'application/json': { schema: reportSchema, example: reportExample } },
    },
    ...readErrors(),
    ...notFoundError('No such report on your divisions'),
  },
});

export function registerGetReport(app: App, deps: ReportsRouteDeps): void {
  app.openapi(getReportRoute, async (c) => {
    const { id } = c.req.valid('param');
    const reportId = parseReportId(id);
    const report = reportId === null ? undefined : await findReport(deps.db, reportId);
    if (!report || !canSee(officerScope(c.get('officer')!), report.division)) throw reportNotFound(id);
    const files = (await listReportFiles(deps.db, [report.id])).get(report.id.toString()) ?? [];
    return c.json(toReportWire(report, files), 200);
  });
}
