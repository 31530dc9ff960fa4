import type { App } from '../../app';
import { registerBearerScheme } from '../audit/listAuditEntries';
import type { QueryRouteDeps } from '../query-wire';
import { registerGetAnomaly } from './getAnomaly';
import { registerListAnomalies } from './listAnomalies';
import { registerReviewAnomaly } from './reviewAnomaly';

/** GET /v1/anomalies, GET /v1/anomalies/{id}, POST /v1/anomalies/{id}/review. */
export function registerAnomalies(app: App, deps: QueryRouteDeps): void {
  registerBearerScheme(app);
  registerListAnomalies(app, deps);
  registerGetAnomaly(app, deps);
  registerReviewAnomaly(app, deps);
}
