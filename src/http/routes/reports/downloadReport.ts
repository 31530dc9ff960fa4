import { createRoute, z } from '@hono/zod-openapi';
import { type MonthlyAnomaliesContent, reportSubjects } from '../../../reports/monthly-anomalies';
import {
  findReport,
  findReportContent,
  findReportFile,
  REPORT_FORMATS,
} from '../../../repositories/reports.repository';
import type { App } from '../../app';
import { addAuditSubjects, canSee, officerScope, ROLES_FOR, requireRole } from '../../auth';
import { ProblemError, problemResponse as problemDoc, retryAfterHeader } from '../../problems';
import { notFoundError, readErrors } from '../query-wire';
import { parseReportId, type ReportsRouteDeps, reportIdParam, reportNotFound } from './report-wire';

const binary = (description: string) => z.string().openapi({ type: 'string', format: 'binary', description });

export const downloadReportRoute = createRoute({
  operationId: 'downloadReport',
  method: 'get',
  path: '/v1/reports/{id}/download',
  tags: ['reports'],
  summary: 'Download a report file (CSV, XLSX or PDF)',
  description:
    'The file as stored when the report was produced: its bytes hash to the `sha256` that `GET /v1/reports/{id}` ' +
    'shows (also sent as the ETag). `csv`: UTF-8 with a byte-order mark, one file in sections (summary, by_rule, ' +
    'top_parties_by_findings, top_parties_by_unsourced, flow_coverage, findings), each a title record, a header and ' +
    'rows, separated by an empty line. `xlsx`: a summary sheet with the rules × severities table, parties, coverage, ' +
    'and a findings sheet with filters. `pdf`: title page, chart, tables and the findings with their Chinese and ' +
    'English summaries, fonts embedded. The download is audited with every party and trade the report names. A ' +
    'report on a division your divisions do not cover answers 404; one still in production answers 409.',
  security: [{ bearer: [] }],
  middleware: [requireRole(...ROLES_FOR.readRecords)] as const,
  request: {
    params: reportIdParam,
    query: z.object({
      format: z
        .enum(REPORT_FORMATS, { error: 'must be one of csv, xlsx, pdf' })
        .openapi({ description: 'Which file', example: 'pdf' }),
    }),
  },
  responses: {
    200: {
      description: 'The file, as an attachment',
      headers: {
        'Content-Disposition': {
          description: 'attachment; filename="monthly_anomalies-440703-2026-10-17.pdf"',
          schema: { type: 'string' as const },
        },
        ETag: { description: 'The file’s hex SHA-256, quoted', schema: { type: 'string' as const } },
      },
      content: {
        'text/csv; charset=utf-8': { schema: binary('CSV, UTF-8 with BOM') },
        'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': {
          schema: binary('XLSX workbook'),
        },
        'application/pdf': { schema: binary('PDF document') },
      },
    },
    ...readErrors(),
    ...notFoundError('No such report on your divisions'),
    409: {
      ...problemDoc('The report’s files are not ready (queued or running), or its production failed'),
      headers: retryAfterHeader,
    },
  },
});

export function registerDownloadReport(app: App, deps: ReportsRouteDeps): void {
  app.openapi(downloadReportRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { format } = c.req.valid('query');
    const reportId = parseReportId(id);
    const report = reportId === null ? undefined : await findReport(deps.db, reportId);
    if (!report || !canSee(officerScope(c.get('officer')!), report.division)) throw reportNotFound(id);
    if (report.status !== 'done') {
      throw new ProblemError(
        'conflict',
        report.status === 'failed'
          ? `Report ${id} could not be produced; POST the same request to /v1/reports to try again.`
          : `Report ${id} is ${report.status}; its files are not ready yet.`,
        report.status === 'failed' ? {} : { retryAfterSeconds: 5 },
      );
    }
    const file = await findReportFile(deps.db, report.id, format);
    if (!file) throw reportNotFound(id);
    // The file discloses every party and trade the report names: the audit entry says so.
    const content = (await findReportContent(deps.db, report.id)) as MonthlyAnomaliesContent;
    addAuditSubjects(c, reportSubjects(content));
    return c.body(new Uint8Array(file.data), 200, {
      'content-type': file.content_type,
      'content-disposition': `attachment; filename="${file.file_name}"`,
      'content-length': String(file.data.length),
      etag: `"${file.sha256}"`,
      'cache-control': 'private, no-store',
      'x-content-type-options': 'nosniff',
    });
  });
}
