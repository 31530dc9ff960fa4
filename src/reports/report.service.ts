import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import type { Db } from '../db/database';
import type { Logger } from '../log';
import {
  failReport,
  findReport,
  findReportByVersion,
  findReportFile,
  finishReport,
  insertReport,
  latestDataClock,
  loadMonthlyAnomaliesInput,
  lockRunningReport,
  REPORT_FORMATS,
  type ReportFileMeta,
  type ReportFormat,
  type ReportRow,
  requeueFailedReport,
  startReport,
  storeReportFiles,
} from '../repositories/reports.repository';
import {
  buildMonthlyAnomalies,
  dataVersionOf,
  type MonthlyAnomaliesContent,
  type ReportKind,
  shanghaiIso,
} from './monthly-anomalies';
import { type ReportMeta, renderCsv } from './render-csv';

/**
 * Producing a report, in two steps:
 *
 * 1. `requestReport` freezes the content. Under a lock per (kind, division, period) it loads the
 *    data in one repeatable-read snapshot, builds the content, hashes it (the data version) and
 *    inserts the report as `queued` — unless a report with the same (kind, division, period, data
 *    version) exists, which it returns instead (re-queued if it had failed). So two workers, two
 *    schedulers or a retried request produce one report per data version.
 * 2. `renderReport` renders the files from the frozen content — never from live data, so the
 *    files always say what the data version says — and stores their bytes in PostgreSQL with
 *    their SHA-256, under a row lock (a second renderer of the same report backs off). Safe to
 *    run twice. A copy of each file goes to `${RETRACE_DATA_DIR}/reports/<id>.<ext>`.
 *
 * The API (POST /v1/reports) and the monthly schedule do step 1 and hand step 2 to the
 * `reports.render` job; the CLI and the demo do both in-process (`produceReportNow`).
 */

export interface ReportRequest {
  kind: ReportKind;
  division: string;
  period: string;
  /** 'officer:<login>', 'schedule', 'cli' or 'demo'. */
  requestedBy: string;
}

export interface RequestOutcome {
  report: ReportRow;
  /** A new report (new data version) was stored. */
  created: boolean;
  /** An existing report had failed and was queued again. */
  requeued: boolean;
}

export async function requestReport(db: Db, req: ReportRequest): Promise<RequestOutcome> {
  const lockKey = `report:${req.kind}:${req.division}:${req.period}`;
  // A session lock taken *before* the repeatable-read transaction starts, so that the snapshot
  // sees what a competitor committed while we waited (a transaction-level lock would be taken
  // inside a snapshot that is already older than the competitor's insert).
  return db.connection().execute(async (conn) => {
    await sql`SELECT pg_advisory_lock(hashtextextended(${lockKey}, 0))`.execute(conn);
    try {
      return await conn
        .transaction()
        .setIsolationLevel('repeatable read')
        .execute(async (trx) => {
          const input = await loadMonthlyAnomaliesInput(trx, req.division, req.period);
          const content = buildMonthlyAnomalies(input);
          const dataVersion = dataVersionOf(content);
          const inserted = await insertReport(trx, {
            kind: req.kind,
            division: req.division,
            period: req.period,
            requested_by: req.requestedBy,
            data_clock: await latestDataClock(trx),
            rule_versions: content.rule_versions,
            data_version: dataVersion,
            content,
          });
          if (inserted) return { report: inserted, created: true, requeued: false };
          const existing = await findReportByVersion(trx, {
            kind: req.kind,
            division: req.division,
            period: req.period,
            data_version: dataVersion,
          });
          if (!existing) throw new Error(`report ${lockKey} ${dataVersion} vanished`);
          if (existing.status === 'failed') {
            const again = await requeueFailedReport(trx, existing.id);
            if (again) return { report: again, created: false, requeued: true };
          }
          return { report: existing, created: false, requeued: false };
        });
    } finally {
      await sql`SELECT pg_advisory_unlock(hashtextextended(${lockKey}, 0))`.execute(conn);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

export const CONTENT_TYPES: { readonly [F in ReportFormat]: string } = {
  csv: 'text/csv; charset=utf-8',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  pdf: 'application/pdf',
};

export function reportMeta(r: ReportRow): ReportMeta {
  return {
    id: r.id.toString(),
    data_version: r.data_version,
    data_clock: r.data_clock ? shanghaiIso(r.data_clock) : null,
    requested_by: r.requested_by,
    requested_at: shanghaiIso(r.requested_at),
  };
}

export function reportFileName(
  r: Pick<ReportRow, 'id' | 'kind' | 'division' | 'period'>,
  format: ReportFormat,
): string {
  return `${r.kind}-${r.division}-${r.period}-${r.id}.${format}`;
}

/** Renders the three files of a report from its frozen content (pure but for CPU time). */
export async function renderFiles(
  row: ReportRow,
  content: MonthlyAnomaliesContent,
): Promise<(ReportFileMeta & { data: Buffer })[]> {
  const meta = reportMeta(row);
  const { renderXlsx, renderPdf } = await renderers();
  const data: Record<ReportFormat, Buffer> = {
    csv: renderCsv(content, meta),
    xlsx: await renderXlsx(content, meta),
    pdf: await renderPdf(content, meta),
  };
  return REPORT_FORMATS.map((format) => ({
    format,
    content_type: CONTENT_TYPES[format],
    file_name: reportFileName(row, format),
    sha256: createHash('sha256').update(data[format]).digest('hex'),
    size_bytes: data[format].length,
    data: data[format],
  }));
}

export interface RenderDeps {
  db: Db;
  /** Where the file copies go (`<dataDir>/reports/<id>.<ext>`); none when undefined. */
  dataDir?: string;
  log?: Logger;
}

export type RenderOutcome = 'done' | 'busy' | 'skipped';

/**
 * Renders and stores a queued (or interrupted) report's files. 'busy': another renderer holds it;
 * 'skipped': it is done, failed or unknown. On an error the report is marked failed when
 * `finalAttempt` (the job's last try, or an in-process producer); otherwise the error is thrown
 * for the queue to retry.
 */
export async function renderReport(
  deps: RenderDeps,
  id: bigint,
  opts: { finalAttempt?: boolean } = {},
): Promise<RenderOutcome> {
  const started = await startReport(deps.db, id);
  if (!started) return 'skipped';
  let files: (ReportFileMeta & { data: Buffer })[] | null;
  try {
    files = await deps.db.transaction().execute(async (trx) => {
      const locked = await lockRunningReport(trx, id);
      if (!locked) return null;
      const out = await renderFiles(locked.row, locked.content as MonthlyAnomaliesContent);
      await storeReportFiles(trx, id, out);
      await finishReport(trx, id);
      return out;
    });
  } catch (err) {
    deps.log?.warn({ report_id: id.toString(), err: (err as Error).message }, 'report rendering failed');
    if (opts.finalAttempt) await failReport(deps.db, id, (err as Error).message ?? String(err));
    throw err;
  }
  if (!files) return 'busy';
  deps.log?.info(
    { report_id: id.toString(), bytes: files.reduce((a, f) => a + f.size_bytes, 0) },
    'report produced',
  );
  if (deps.dataDir) {
    const dir = deps.dataDir;
    await Promise.all(files.map((f) => writeCopy(dir, id, f.format, f.data))).catch((err) =>
      deps.log?.warn(
        { report_id: id.toString(), err: (err as Error).message },
        'could not write report copies',
      ),
    );
  }
  return 'done';
}

export function reportFilePath(dataDir: string, id: bigint, format: ReportFormat): string {
  return path.resolve(dataDir, 'reports', `${id}.${format}`);
}

/** Writes via a temporary file and a rename, so a reader never sees half a file. */
async function writeCopy(dataDir: string, id: bigint, format: ReportFormat, data: Buffer): Promise<string> {
  const file = reportFilePath(dataDir, id, format);
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, data, { mode: 0o600 });
  await rename(tmp, file);
  return file;
}

/**
 * Makes sure this machine has a copy of each file of a done report (from PostgreSQL, where a
 * worker elsewhere may have stored them) and returns the paths.
 */
export async function materializeReportFiles(
  db: Db,
  dataDir: string,
  id: bigint,
): Promise<Record<ReportFormat, string>> {
  const out = {} as Record<ReportFormat, string>;
  for (const format of REPORT_FORMATS) {
    const file = reportFilePath(dataDir, id, format);
    const stored = await findReportFile(db, id, format);
    if (!stored) throw new Error(`report ${id} has no ${format} file`);
    const local = await readFile(file).catch(() => null);
    if (!local || createHash('sha256').update(local).digest('hex') !== stored.sha256) {
      await writeCopy(dataDir, id, format, stored.data);
    }
    out[format] = file;
  }
  return out;
}

export interface ProducedReport {
  report: ReportRow;
  created: boolean;
  files: Record<ReportFormat, string>;
}

/**
 * Requests a report and produces it in this process (the CLI, the demo): no queue involved. If a
 * worker is rendering the same report right now, waits for it (at most `waitSeconds`).
 */
export async function produceReportNow(
  deps: RenderDeps & { dataDir: string },
  req: ReportRequest,
  opts: { waitSeconds?: number } = {},
): Promise<ProducedReport> {
  const { report, created } = await requestReport(deps.db, req);
  const until = Date.now() + (opts.waitSeconds ?? 300) * 1000;
  await renderReport(deps, report.id, { finalAttempt: true });
  for (;;) {
    const now = await findReport(deps.db, report.id);
    if (!now) throw new Error(`report ${report.id} vanished`);
    if (now.status === 'done') {
      const files = await materializeReportFiles(deps.db, deps.dataDir, report.id);
      return { report: now, created, files };
    }
    if (now.status === 'failed')
      throw new Error(`report ${report.id} failed: ${now.error ?? 'unknown error'}`);
    if (Date.now() > until) throw new Error(`report ${report.id} is still ${now.status}; try again later`);
    // 'running' elsewhere (a worker renders it): wait for that; 'queued' again: render it here.
    if (now.status === 'queued') await renderReport(deps, report.id, { finalAttempt: true });
    else await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * The XLSX and PDF renderers, loaded on the first render: exceljs and pdfkit hold about 38 MB of
 * a process's memory once loaded, and API processes and most worker processes never render.
 */
async function renderers() {
  const [xlsx, pdf] = await Promise.all([import('./render-xlsx'), import('./render-pdf')]);
  return { renderXlsx: xlsx.renderXlsx, renderPdf: pdf.renderPdf };
}
