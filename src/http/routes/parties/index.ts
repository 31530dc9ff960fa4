import type { App } from '../../app';
import { registerBearerScheme } from '../audit/listAuditEntries';
import type { QueryRouteDeps } from '../query-wire';
import { registerGetParty } from './getParty';
import { registerGetPartySummary } from './getPartySummary';
import { registerGetPartyWithholding } from './getPartyWithholding';

export type { QueryRouteDeps as PartiesRouteDeps } from '../query-wire';

/**
 * GET /v1/parties/{key}, /v1/parties/{key}/summary (CONTRACT.md section 3) and the summary's
 * per-person withholding rows, /v1/parties/{key}/summary/withholding. Authentication and
 * the audit entry come from `officerGate`, mounted on /v1/* before this; each route checks the role
 * (officer, supervisor) before its parameters, then the division scope (404 outside it).
 */
export function registerParties(app: App, deps: QueryRouteDeps): void {
  registerBearerScheme(app);
  registerGetPartySummary(app, deps);
  registerGetPartyWithholding(app, deps);
  registerGetParty(app, deps);
}
