import type { ReportFormat } from '../repositories/reports.repository';
import type { Runtime } from '../runtime';
import { SCHEDULED_DIVISIONS } from './labels';
import { produceReportNow } from './report.service';

export interface DemoReport {
  division: string;
  id: string;
  status: string;
  data_version: string;
  files: Record<ReportFormat, string>;
}

/**
 * The demo's reports: `period`'s monthly_anomalies report of all of Jiangmen (440700) and each of
 * its seven districts, produced in this process (no worker needed), requested by 'demo'. Returns
 * where the files are (absolute paths under `${RETRACE_DATA_DIR}/reports/`). Idempotent: a second
 * run on unchanged data returns the same reports.
 */
export async function produceDemoReports(
  rt: Pick<Runtime, 'db' | 'config' | 'log'>,
  period: string,
): Promise<{ period: string; reports: DemoReport[] }> {
  const reports: DemoReport[] = [];
  for (const division of SCHEDULED_DIVISIONS) {
    const r = await produceReportNow(
      { db: rt.db, dataDir: rt.config.dataDir, log: rt.log },
      { kind: 'monthly_anomalies', division, period, requestedBy: 'demo' },
    );
    reports.push({
      division,
      id: r.report.id.toString(),
      status: r.report.status,
      data_version: r.report.data_version,
      files: r.files,
    });
  }
  return { period, reports };
}
