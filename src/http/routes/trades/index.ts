import type { App } from '../../app';
import { registerBearerScheme } from '../audit/listAuditEntries';
import type { QueryRouteDeps } from '../query-wire';
import { registerGetTrade } from './getTrade';
import { registerGetTradeChain } from './getTradeChain';
import { registerListTrades } from './listTrades';

export type { QueryRouteDeps as TradesRouteDeps } from '../query-wire';

/**
 * GET /v1/trades, /v1/trades/{id}, /v1/trades/{id}/chain (CONTRACT.md section 3). Authentication
 * and the audit entry come from `officerGate`, mounted on /v1/* before this; each route checks the
 * role (officer, supervisor) before its parameters, then the division scope (404 outside it).
 */
export function registerTrades(app: App, deps: QueryRouteDeps): void {
  registerBearerScheme(app);
  registerListTrades(app, deps);
  registerGetTradeChain(app, deps);
  registerGetTrade(app, deps);
}
