import { JIANGMEN_DIVISIONS } from '../domain/ids';
import { periodOfMs, RULE_CODES, type RuleCode, SEVERITIES, type Severity } from '../domain/rules/types';

/**
 * Human names for what the reports show: the anomaly rules (DOMAIN.md section 7), severities,
 * review states and divisions, in Chinese and English. The codes themselves are the contract;
 * these labels are presentation only.
 */
export const RULE_LABELS: { readonly [R in RuleCode]: { zh: string; en: string } } = {
  PAYMENT_MISMATCH: { zh: '资金流不符', en: 'Payment mismatch' },
  WEIGHT_MISMATCH: { zh: '货物流（过磅）不符', en: 'Weight mismatch' },
  INVOICE_MISMATCH: { zh: '发票流不符', en: 'Invoice mismatch' },
  MISSING_FLOW: { zh: '四流缺失', en: 'Missing flow' },
  THIRD_PARTY_PAYEE: { zh: '第三方收款', en: 'Third-party payee' },
  FUNDS_ROUND_TRIP: { zh: '资金回流', en: 'Funds round trip' },
  SHARED_PAYEE_ACCOUNT: { zh: '多名卖方共用收款账户', en: 'Shared payee account' },
  UNSOURCED_SALE: { zh: '无来源销售', en: 'Unsourced sale' },
  PASS_THROUGH: { zh: '过票', en: 'Pass-through' },
  CIRCULAR_TRADING: { zh: '对开 / 环开', en: 'Circular trading' },
  REVERSE_INVOICE_LIMIT: { zh: '反向开票超限', en: 'Reverse-invoice limit' },
  INCOME_SPLITTING: { zh: '拆分收入', en: 'Income splitting' },
  VEHICLE_OVERLOAD: { zh: '车辆超载', en: 'Vehicle overload' },
  IMPOSSIBLE_TRAVEL: { zh: '不可能的行程', en: 'Impossible travel' },
  PRICE_DEVIATION: { zh: '价格偏离', en: 'Price deviation' },
  DUPLICATE_DOCUMENT: { zh: '单据重复使用', en: 'Duplicate document' },
  SHELL_BURST: { zh: '新设企业短期大额销售', en: 'Shell burst' },
  INVOICE_WITHOUT_TRADE: { zh: '有票无货', en: 'Invoice without trade' },
  HAZARDOUS_UNLICENSED: { zh: '危废售予无证企业', en: 'Hazardous to unlicensed buyer' },
};

export const SEVERITY_LABELS: { readonly [S in Severity]: { zh: string; en: string } } = {
  low: { zh: '低', en: 'low' },
  medium: { zh: '中', en: 'medium' },
  high: { zh: '高', en: 'high' },
  critical: { zh: '严重', en: 'critical' },
};

export const STATUS_LABELS: Readonly<Record<string, { zh: string; en: string }>> = {
  open: { zh: '待核查', en: 'open' },
  confirmed: { zh: '已确认', en: 'confirmed' },
  dismissed: { zh: '已排除', en: 'dismissed' },
  closed: { zh: '已关闭', en: 'closed' },
};

/** Highest first: the order findings are listed and severities compared in. */
export const SEVERITY_RANK: { readonly [S in Severity]: number } = {
  critical: 4,
  high: 3,
  medium: 2,
  low: 1,
};

export function isRuleCode(s: string): s is RuleCode {
  return (RULE_CODES as readonly string[]).includes(s);
}

export function isSeverity(s: string): s is Severity {
  return (SEVERITIES as readonly string[]).includes(s);
}

/** Jiangmen's names; any other valid code is shown by its number. */
export function divisionLabel(code: string): { code: string; name_zh: string; name_en: string } {
  const d = JIANGMEN_DIVISIONS.find((x) => x.code === code);
  return d ? { code, name_zh: d.name_zh, name_en: d.name_en } : { code, name_zh: code, name_en: code };
}

/** The divisions the monthly schedule reports on: all of Jiangmen (440700) and its seven districts. */
export const SCHEDULED_DIVISIONS: readonly string[] = JIANGMEN_DIVISIONS.map((d) => d.code);

/** A division a report can be on: Jiangmen (440700) or one of its seven districts. */
export const isReportDivision = (code: string): boolean => SCHEDULED_DIVISIONS.includes(code);

/**
 * A month a report can be on: not after the current Asia/Shanghai month (a month still running
 * can be reported so far; the schedule reports it once closed).
 */
export function isReportablePeriod(period: string, nowMs = Date.now()): boolean {
  return period <= periodOfMs(nowMs);
}
