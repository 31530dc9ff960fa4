import { createRoute, z } from '@hono/zod-openapi';
import { isValidDivision } from '../../../domain/ids';
import { listReportFiles, listReports, REPORT_STATUSES } from '../../../repositories/reports.repository';
import type { App } from '../../app';
import { divisionFilter, officerScope, ROLES_FOR, requireRole } from '../../auth';
import { cursorParam, DEFAULT_LIMIT, limitParam } from '../pagination';
import { readErrors } from '../query-wire';
import {
  decodeReportCursor,
  encodeReportCursor,
  PERIOD_RE,
  type ReportsRouteDeps,
  reportExample,
  reportSchema,
  toReportWire,
} from './report-wire';

export const listReportsQuery = z.object({
  kind: z
    .enum(['monthly_anomalies'], { error: 'must be "monthly_anomalies"' })
    .optional()
    .openapi({ description: 'Only reports of this kind' }),
  division: z
    .string()
    .refine(isValidDivision, 'must be a 6-digit division code below province level, e.g. 440703')
    .optional()
    .openapi({
      description: 'Only reports on exactly this division (440700: the all-Jiangmen reports)',
      example: '440703',
    }),
  period: z
    .string()
    .regex(PERIOD_RE, 'must be a period "YYYY-MM" between 2000-01 and 2099-12')
    .optional()
    .openapi({ description: 'Only reports of this period', example: '2026-10' }),
  status: z
    .enum(REPORT_STATUSES, { error: `must be one of ${REPORT_STATUSES.join(', ')}` })
    .optional()
    .openapi({ description: 'Only reports in this state' }),
  limit: limitParam(),
  cursor: cursorParam(decodeReportCursor, 'rMTc5MjA2NjcyMzQxNzAwMC4xNw'),
});

export const listReportsRoute = createRoute({
  operationId: 'listReports',
  method: 'get',
  path: '/v1/reports',
  tags: ['reports'],
  summary: 'Reports on your divisions, newest first',
  description:
    'Compliance reports whose division your divisions cover — a 440700 officer sees every Jiangmen report, a 440703 ' +
    'officer the 440703 reports (not the all-Jiangmen ones, which cover other districts too) — ordered by ' +
    '`requested_at` then `id`, both descending. Cursor pagination: pass `next_cursor` back as `cursor` with the ' +
    'same filters.',
  security: [{ bearer: [] }],
  middleware: [requireRole(...ROLES_FOR.readRecords)] as const,
  request: { query: listReportsQuery },
  responses: {
    200: {
      description: 'A page of reports',
      content: {
        'application/json': {
          schema: z
            .object({
              items: z.array(reportSchema),
              next_cursor: z
                .string()
                .nullable()
                .openapi({ description: 'Pass as `cursor` for the next page; null at the end' }),
            })
            .openapi('ReportList'),
          example: { items: [reportExample], next_cursor: null },
        },
      },
    },
    ...readErrors(),
  },
});

export function registerListReports(app: App, deps: ReportsRouteDeps): void {
  app.openapi(listReportsRoute, async (c) => {
    const q = c.req.valid('query');
    const scope = officerScope(c.get('officer')!);
    const limit = q.limit === undefined ? DEFAULT_LIMIT : Number(q.limit);
    const { items, more } = await listReports(deps.db, {
      scope: divisionFilter(scope),
      kind: q.kind,
      division: q.division,
      period: q.period,
      status: q.status,
      after: q.cursor === undefined ? undefined : (decodeReportCursor(q.cursor) ?? undefined),
      limit,
    });
    const files = await listReportFiles(
      deps.db,
      items.map((r) => r.id),
    );
    const last = items[items.length - 1];
    return c.json(
      {
        items: items.map((r) => toReportWire(r, files.get(r.id.toString()) ?? [])),
        next_cursor: more && last ? encodeReportCursor({ atMicros: last.at_micros, id: last.id }) : null,
      },
      200,
    );
  });
}
