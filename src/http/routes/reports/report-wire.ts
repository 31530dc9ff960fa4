import { z } from '@hono/zod-openapi';
import type { Db } from '../../../db/database';
import type { Logger } from '../../../log';
import type { EventQueues } from '../../../queue/producer';
import { divisionLabel } from '../../../reports/labels';
import { auditText } from '../../../repositories/audit.repository';
import type { ReportFileMeta, ReportRow } from '../../../repositories/reports.repository';
import { ProblemError } from '../../problems';
import { shanghaiTime, timeString } from '../query-wire';

/** Pieces shared by the report routes: dependencies, the report's wire format, ids and cursors. */

export interface ReportsRouteDeps {
  db: Db;
  /** POST hands rendering to the `reports.render` job. */
  queues: Pick<EventQueues, 'enqueueReports'>;
  log?: Logger;
}

const MAX_ID = 9_223_372_036_854_775_807n;
export const PERIOD_RE = /^(20\d\d)-(0[1-9]|1[0-2])$/;

export const reportIdParam = z.object({
  id: z.string().openapi({ param: { name: 'id', in: 'path' }, description: 'The report id', example: '17' }),
});

/**
 * The report an `{id}` names, or null when it can name none: then, as for trades and findings,
 * the answer is 404 (no such report), not a 400 about the id's shape.
 */
export function parseReportId(id: string): bigint | null {
  if (!/^[1-9]\d{0,18}$/.test(id)) return null;
  const n = BigInt(id);
  return n <= MAX_ID ? n : null;
}

export const reportFileSchema = z
  .object({
    format: z.enum(['csv', 'xlsx', 'pdf']),
    content_type: z.string().openapi({ example: 'application/pdf' }),
    file_name: z.string().openapi({ example: 'monthly_anomalies-440703-2026-10-17.pdf' }),
    size_bytes: z.number().int().openapi({ example: 48213 }),
    sha256: z.string().openapi({
      description: 'Hex SHA-256 of the file’s bytes, as downloaded',
      example: '3b1f0c5e9a7d4e2f8b6c1a0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f',
    }),
    href: z.string().openapi({ example: '/v1/reports/17/download?format=pdf' }),
  })
  .openapi('ReportFile');

export const reportSchema = z
  .object({
    id: z.string().openapi({ description: 'Report id (decimal string)', example: '17' }),
    kind: z.enum(['monthly_anomalies']),
    division: z.object({
      code: z
        .string()
        .openapi({ description: '6-digit division code; 440700 = all of Jiangmen', example: '440703' }),
      name_zh: z.string().openapi({ example: '蓬江区' }),
      name_en: z.string().openapi({ example: 'Pengjiang District' }),
    }),
    period: z.string().openapi({ description: 'Asia/Shanghai calendar month', example: '2026-10' }),
    status: z.enum(['queued', 'running', 'done', 'failed']).openapi({
      description:
        '`queued`: content frozen, files being produced; `done`: files ready; `failed`: production failed ' +
        '(POST the same request again to retry)',
    }),
    requested_by: z.string().openapi({
      description:
        'Who or what asked for it first: `officer:<login>`, `schedule` (the monthly job), `cli` or `demo`',
      example: 'officer:li.wei',
    }),
    requested_at: timeString('When it was first requested'),
    started_at: timeString('When production last started').nullable(),
    finished_at: timeString('When the files were stored (or production failed)').nullable(),
    data_clock: timeString(
      'The latest event time any platform had sent when the content was taken: the data it reflects',
    ).nullable(),
    data_version: z.string().openapi({
      description:
        'Hex SHA-256 of the report’s content (findings with their review state, coverage, rankings, rule ' +
        'versions). Equal data gives an equal version; a report is produced once per (kind, division, period, ' +
        'data version)',
      example: '9c2e4f1a7b3d5e6f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f',
    }),
    rule_versions: z.record(z.string(), z.number().int()).openapi({
      description: 'Settings version of each rule in force for the period',
      example: { MISSING_FLOW: 1 },
    }),
    files: z
      .array(reportFileSchema)
      .openapi({ description: 'The files, once `status` is `done` (empty before)' }),
  })
  .openapi('Report');

export type ReportWire = z.infer<typeof reportSchema>;

export const reportExample: ReportWire = {
  id: '17',
  kind: 'monthly_anomalies',
  division: { code: '440703', name_zh: '蓬江区', name_en: 'Pengjiang District' },
  period: '2026-10',
  status: 'done',
  requested_by: 'officer:li.wei',
  requested_at: '2026-11-01T09:12:03.417+08:00',
  started_at: '2026-11-01T09:12:03.902+08:00',
  finished_at: '2026-11-01T09:12:05.311+08:00',
  data_clock: '2026-11-01T09:11:58+08:00',
  data_version: '9c2e4f1a7b3d5e6f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f',
  rule_versions: { MISSING_FLOW: 1, PAYMENT_MISMATCH: 1 },
  files: [
    {
      format: 'pdf',
      content_type: 'application/pdf',
      file_name: 'monthly_anomalies-440703-2026-10-17.pdf',
      size_bytes: 48213,
      sha256: '3b1f0c5e9a7d4e2f8b6c1a0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f',
      href: '/v1/reports/17/download?format=pdf',
    },
  ],
};

const orNull = (d: Date | null) => (d ? shanghaiTime(d) : null);

export function toReportWire(r: ReportRow, files: readonly ReportFileMeta[]): ReportWire {
  return {
    id: r.id.toString(),
    kind: 'monthly_anomalies',
    division: divisionLabel(r.division),
    period: r.period,
    status: r.status,
    requested_by: r.requested_by,
    requested_at: shanghaiTime(r.requested_at),
    started_at: orNull(r.started_at),
    finished_at: orNull(r.finished_at),
    data_clock: orNull(r.data_clock),
    data_version: r.data_version,
    rule_versions: r.rule_versions,
    files:
      r.status === 'done'
        ? files.map((f) => ({
            format: f.format,
            content_type: f.content_type,
            file_name: f.file_name,
            size_bytes: f.size_bytes,
            sha256: f.sha256,
            href: `/v1/reports/${r.id}/download?format=${f.format}`,
          }))
        : [],
  };
}

export function reportNotFound(id: string): ProblemError {
  return new ProblemError('not_found', `No report ${JSON.stringify(auditText(id))} in your divisions.`);
}

/**
 * Opaque cursor: `r` and the base64url of `<requested_at in µs>.<id>` of the last report of the
 * page. The `r` keeps another list's cursor (the trades' has the same inner form) from passing.
 */
export function encodeReportCursor(c: { atMicros: bigint; id: bigint }): string {
  return `r${Buffer.from(`${c.atMicros}.${c.id}`, 'utf8').toString('base64url')}`;
}

const MIN_MICROS = BigInt(Date.UTC(1900, 0, 1)) * 1000n;
const MAX_MICROS = BigInt(Date.UTC(3000, 0, 1)) * 1000n;

export function decodeReportCursor(cursor: string): { atMicros: bigint; id: bigint } | null {
  if (!/^r[A-Za-z0-9_-]{1,64}$/.test(cursor)) return null;
  const m = /^([1-9]\d{0,17}|0)\.([1-9]\d{0,18})$/.exec(
    Buffer.from(cursor.slice(1), 'base64url').toString('utf8'),
  );
  if (!m) return null;
  const c = { atMicros: BigInt(m[1]!), id: BigInt(m[2]!) };
  if (c.atMicros < MIN_MICROS || c.atMicros >= MAX_MICROS || c.id > MAX_ID) return null;
  return encodeReportCursor(c) === cursor ? c : null;
}
