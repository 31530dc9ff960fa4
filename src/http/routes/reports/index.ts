import type { App } from '../../app';
import { registerBearerScheme } from '../audit/listAuditEntries';
import { registerCreateReport } from './createReport';
import { registerDownloadReport } from './downloadReport';
import { registerGetReport } from './getReport';
import { registerListReports } from './listReports';
import type { ReportsRouteDeps } from './report-wire';

export type { ReportsRouteDeps } from './report-wire';

/**
 * POST /v1/reports (supervisor), GET /v1/reports, /v1/reports/{id}, /v1/reports/{id}/download
 * (officer, supervisor), CONTRACT.md section 3. Authentication and the audit entry come from
 * `officerGate`, mounted on /v1/* before this. A report is visible iff the officer's divisions
 * cover its division; otherwise 404, like an unknown report.
 */
export function registerReports(app: App, deps: ReportsRouteDeps): void {
  registerBearerScheme(app);
  registerCreateReport(app, deps);
  registerListReports(app, deps);
  registerDownloadReport(app, deps);
  registerGetReport(app, deps);
}
