/**
 * The anomaly rules (DOMAIN.md section 7). Each rule is a pure function from the facts of one
 * period (an Asia/Shanghai month) and its parameters to findings; loading the facts is the
 * repositories' job and reconciling findings with stored ones is the engine's.
 */
import { SHANGHAI_OFFSET_MS } from '../time';

export const RULE_CODES = [
  'PAYMENT_MISMATCH',
  'WEIGHT_MISMATCH',
  'INVOICE_MISMATCH',
  'MISSING_FLOW',
  'THIRD_PARTY_PAYEE',
  'FUNDS_ROUND_TRIP',
  'SHARED_PAYEE_ACCOUNT',
  'UNSOURCED_SALE',
  'PASS_THROUGH',
  'CIRCULAR_TRADING',
  'REVERSE_INVOICE_LIMIT',
  'INCOME_SPLITTING',
  'VEHICLE_OVERLOAD',
  'IMPOSSIBLE_TRAVEL',
  'PRICE_DEVIATION',
  'DUPLICATE_DOCUMENT',
  'SHELL_BURST',
  'INVOICE_WITHOUT_TRADE',
  'HAZARDOUS_UNLICENSED',
] as const;
export type RuleCode = (typeof RULE_CODES)[number];

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface TradeRefOut {
  platform: string;
  trade_id: string;
}

export interface DocumentRef {
  kind: 'payment' | 'weighing' | 'invoice';
  number: string;
}

export interface Finding {
  rule: RuleCode;
  /** Stable identity of the finding within its rule and party: a re-run updates, never duplicates. */
  dedupeKey: string;
  severity: Severity;
  partyKey: string;
  period: string;
  trades: TradeRefOut[];
  documents: DocumentRef[];
  summaryZh: string;
  summaryEn: string;
  /** The numbers that triggered it, and the thresholds they were compared with. */
  evidence: Record<string, unknown>;
  /**
   * Supporting trades the facts do not carry, for the engine to add to `trades`: a natural
   * person's trades of some months, either the ones linked to their reverse invoices (not
   * reversed in full) or all their sales. The person rules' facts are monthly totals of every
   * person; the trades behind them are read only for the few persons a rule reports.
   */
  tradesFrom?: { source: 'reverse_invoices' | 'sales'; person: string; periods: string[] };
}

/** The period being evaluated: [start, end) in UTC instants of the Asia/Shanghai month. */
export interface PeriodWindow {
  period: string;
  startMs: number;
  endMs: number;
}

export function periodWindow(period: string): PeriodWindow {
  const m = /^(\d{4})-(\d{2})$/.exec(period);
  if (!m) throw new RangeError(`not a period: ${period}`);
  const y = Number(m[1]);
  const mo = Number(m[2]);
  return {
    period,
    startMs: Date.UTC(y, mo - 1, 1) - SHANGHAI_OFFSET_MS,
    endMs: Date.UTC(y, mo, 1) - SHANGHAI_OFFSET_MS,
  };
}

export function addMonths(period: string, n: number): string {
  const [y, m] = period.split('-').map(Number) as [number, number];
  const idx = y * 12 + (m - 1) + n;
  return `${Math.floor(idx / 12)}-${String((idx % 12) + 1).padStart(2, '0')}`;
}

export function periodOfMs(ms: number): string {
  const d = new Date(ms + SHANGHAI_OFFSET_MS);
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

export const DAY_MS = 86_400_000;

/** A ratio of two integers as a decimal string with 4 places (half-up), for evidence. */
export function ratio(num: bigint, den: bigint): string {
  if (den === 0n) return 'n/a';
  const neg = num < 0n !== den < 0n;
  const n = num < 0n ? -num : num;
  const d = den < 0n ? -den : den;
  const scaled = (n * 20_000n + d) / (2n * d);
  const s = `${scaled / 10_000n}.${String(scaled % 10_000n).padStart(4, '0')}`;
  return neg && scaled !== 0n ? `-${s}` : s;
}
