import { createRoute, z } from '@hono/zod-openapi';
import { isValidDivision } from '../../../domain/ids';
import { isReportablePeriod, isReportDivision } from '../../../reports/labels';
import { requestReport } from '../../../reports/report.service';
import { listReportFiles } from '../../../repositories/reports.repository';
import type { App } from '../../app';
import { canSee, officerScope, ROLES_FOR, requireRole } from '../../auth';
import { ProblemError, problemResponse as problemDoc, retryAfterHeader } from '../../problems';
import { PERIOD_RE, type ReportsRouteDeps, reportExample, reportSchema, toReportWire } from './report-wire';

export const createReportBody = z
  .object({
    kind: z.enum(['monthly_anomalies'], { error: 'must be "monthly_anomalies"' }).openapi({
      description: 'The report kind. `monthly_anomalies`: findings, top parties and flow coverage of a month',
    }),
    division: z
      .string({ error: 'must be a 6-digit division code, e.g. "440703"' })
      .refine(isValidDivision, 'must be a 6-digit division code below province level, e.g. "440703"')
      .refine(isReportDivision, 'must be 440700 (all of Jiangmen) or one of its districts')
      .openapi({
        description: 'The division reported on (440700 = all of Jiangmen); it must be within your divisions',
        example: '440703',
      }),
    period: z
      .string({ error: 'must be a period "YYYY-MM"' })
      .regex(PERIOD_RE, 'must be a period "YYYY-MM" between 2000-01 and 2099-12')
      .refine((p) => isReportablePeriod(p), 'must not be after the current month (Asia/Shanghai)')
      .openapi({
        description: 'An Asia/Shanghai calendar month, not after the current one',
        example: '2026-10',
      }),
  })
  .openapi('CreateReport');

export const createReportRoute = createRoute({
  operationId: 'createReport',
  method: 'post',
  path: '/v1/reports',
  tags: ['reports'],
  summary: 'Produce a compliance report (supervisor)',
  description:
    'Freezes the report’s content now — the division’s findings of the period with their review state, the top ' +
    'parties by findings and by unsourced quantity, the month’s flow coverage — and produces its files (CSV, XLSX, ' +
    'PDF) in the background. Answers 202 with the report while its files are being produced (poll ' +
    '`GET /v1/reports/{id}` until `status` is `done`), 200 when they are ready. A report is produced once per ' +
    '(kind, division, period, data version): asking twice on unchanged data returns the same report (a failed one ' +
    'is queued again). A division outside your divisions answers 404, like one that does not exist. Reports are also ' +
    'produced monthly on schedule, for 440700 and each district, after the period closes.',
  security: [{ bearer: [] }],
  middleware: [requireRole(...ROLES_FOR.runReports)] as const,
  request: {
    body: { content: { 'application/json': { schema: createReportBody } }, required: true },
  },
  responses: {
    200: {
      description: 'A report of the same data already exists and its files are ready',
      content: { 'application/json': { schema: reportSchema, example: reportExample } },
    },
    202: {
      description: 'The report (new, or an existing one of the same data) is queued; its files follow',
      headers: { Location: { description: 'The report', schema: { type: 'string' as const } } },
      content: {
        'application/json': {
          schema: reportSchema,
          example: { ...reportExample, status: 'queued', started_at: null, finished_at: null, files: [] },
        },
      },
    },
    400: problemDoc('Invalid body; `errors[].pointer` names the field, e.g. `/period`'),
    401: problemDoc('Missing, unknown, revoked or disabled bearer token'),
    403: problemDoc('Only supervisors produce reports'),
    404: problemDoc('The division is not within your divisions'),
    429: { ...problemDoc('Too many failed authentication attempts'), headers: retryAfterHeader },
    503: {
      ...problemDoc('Storage unavailable, or the request could not be audited'),
      headers: retryAfterHeader,
    },
  },
});

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function registerCreateReport(app: App, deps: ReportsRouteDeps): void {
  app.openapi(createReportRoute, async (c) => {
    const body = c.req.valid('json');
    const officer = c.get('officer')!;
    // Visible iff the officer's scope covers the division: a 440703 officer may not report on
    // 440700 (all of Jiangmen), which covers other districts too.
    if (!canSee(officerScope(officer), body.division)) {
      throw new ProblemError('not_found', `No division ${JSON.stringify(body.division)} in your divisions.`);
    }
    const { report, created, requeued } = await requestReport(deps.db, {
      kind: body.kind,
      division: body.division,
      period: body.period,
      requestedBy: `officer:${officer.login}`,
    });
    if (created || requeued || report.status === 'queued') {
      // PostgreSQL first, then the queue: the report is stored; if Redis is away the workers'
      // report sweep hands it over, so this failure is logged, not returned.
      try {
        await withTimeout(deps.queues.enqueueReports([{ id: report.id, attempt: report.attempts }]), 1_000);
      } catch (err) {
        (c.get('log') ?? deps.log)?.warn(
          { report_id: report.id.toString(), err: (err as Error).message },
          'enqueue failed; the report sweep will hand it over',
        );
      }
    }
    const files = (await listReportFiles(deps.db, [report.id])).get(report.id.toString()) ?? [];
    const wire = toReportWire(report, files);
    c.header('Location', `/v1/reports/${report.id}`);
    return report.status === 'done' ? c.json(wire, 200) : c.json(wire, 202);
  });
}
