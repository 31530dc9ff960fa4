import { isValidDivision } from '../domain/ids';
import { isReportablePeriod, isReportDivision, SCHEDULED_DIVISIONS } from '../reports/labels';
import { shanghaiIso } from '../reports/monthly-anomalies';
import { type ProducedReport, produceReportNow } from '../reports/report.service';
import { lastClosedPeriod } from '../reports/schedule';
import { listReports } from '../repositories/reports.repository';
import type { Runtime } from '../runtime';
import { printJson, say, UsageError } from './output';

const PERIOD = /^(20\d\d)-(0[1-9]|1[0-2])$/;
const REPORT_USAGE = 'report --kind monthly_anomalies --division <6-digit code> --period YYYY-MM';

export interface ReportFlags {
  kind?: string;
  division?: string;
  period?: string;
  limit?: string;
}

function summary(r: ProducedReport) {
  return {
    id: r.report.id.toString(),
    kind: r.report.kind,
    division: r.report.division,
    period: r.report.period,
    status: r.report.status,
    created: r.created,
    requested_by: r.report.requested_by,
    data_clock: r.report.data_clock ? shanghaiIso(r.report.data_clock) : null,
    data_version: r.report.data_version,
    files: r.files,
  };
}

/**
 * `report --kind monthly_anomalies --division D --period P`: produces the report now, in this
 * process, and prints `{ id, …, files: { csv, xlsx, pdf } }` (paths under RETRACE_DATA_DIR). On
 * unchanged data it returns the existing report (one per data version).
 */
export async function reportCommand(rt: Runtime, flags: ReportFlags): Promise<void> {
  if (flags.kind !== 'monthly_anomalies')
    throw new UsageError(`${REPORT_USAGE}\n  (--kind: monthly_anomalies)`);
  if (!flags.division || !isValidDivision(flags.division) || !isReportDivision(flags.division))
    throw new UsageError(
      `${REPORT_USAGE}\n  (--division: 440700 = all of Jiangmen, or one of its districts, e.g. 440703)`,
    );
  if (!flags.period || !PERIOD.test(flags.period) || !isReportablePeriod(flags.period))
    throw new UsageError(`${REPORT_USAGE}\n  (--period: YYYY-MM, not after the current month)`);
  say(`producing monthly_anomalies ${flags.division} ${flags.period}`);
  const r = await produceReportNow(
    { db: rt.db, dataDir: rt.config.dataDir, log: rt.log },
    { kind: 'monthly_anomalies', division: flags.division, period: flags.period, requestedBy: 'cli' },
  );
  say(r.created ? `report ${r.report.id} produced` : `report ${r.report.id} already existed for this data`);
  printJson(summary(r));
}

/**
 * `reports list [--division D] [--period P] [--limit N]` · `reports schedule [--period P]`: the
 * schedule's reports (440700 and the seven districts) of a period — by default the last closed
 * one — produced now, in this process (a backfill, or a run the scheduler missed).
 */
export async function reportsCommand(rt: Runtime, args: string[], flags: ReportFlags): Promise<void> {
  const [sub] = args;
  if (sub === 'list') {
    if (flags.division !== undefined && !isValidDivision(flags.division))
      throw new UsageError('reports list [--division CODE] [--period YYYY-MM] [--limit N]');
    if (flags.period !== undefined && !PERIOD.test(flags.period))
      throw new UsageError('reports list [--division CODE] [--period YYYY-MM] [--limit N]');
    const limit = flags.limit === undefined ? 50 : Number(flags.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new UsageError('--limit: 1 to 500');
    const { items } = await listReports(rt.db, {
      scope: { all: true, exact: [], prefixes: [] },
      division: flags.division,
      period: flags.period,
      limit,
    });
    printJson({
      reports: items.map((r) => ({
        id: r.id.toString(),
        kind: r.kind,
        division: r.division,
        period: r.period,
        status: r.status,
        requested_by: r.requested_by,
        requested_at: shanghaiIso(r.requested_at),
        data_clock: r.data_clock ? shanghaiIso(r.data_clock) : null,
        data_version: r.data_version,
        error: r.error,
      })),
    });
    return;
  }
  if (sub === 'schedule') {
    const period = flags.period ?? lastClosedPeriod(new Date());
    if (!PERIOD.test(period)) throw new UsageError('reports schedule [--period YYYY-MM]');
    const out = [];
    for (const [i, division] of SCHEDULED_DIVISIONS.entries()) {
      say(`[${i + 1}/${SCHEDULED_DIVISIONS.length}] monthly_anomalies ${division} ${period}`);
      const r = await produceReportNow(
        { db: rt.db, dataDir: rt.config.dataDir, log: rt.log },
        { kind: 'monthly_anomalies', division, period, requestedBy: 'schedule' },
      );
      out.push(summary(r));
    }
    printJson({ period, reports: out });
    return;
  }
  throw new UsageError(
    'reports list [--division CODE] [--period YYYY-MM] [--limit N] | reports schedule [--period YYYY-MM]',
  );
}
