/**
 * `monthly_anomalies`: the compliance report of one division (440700 = all of Jiangmen) for one
 * period (an Asia/Shanghai calendar month). Pure: built from the rows that
 * `loadMonthlyAnomaliesInput` (src/repositories/reports.repository.ts) loads, so that the same data
 * always gives the same content — and the same `data_version`, the SHA-256 of that content.
 *
 * What it says, and how each figure is defined:
 * - findings: the period's findings (`anomalies.period`) whose subject party is located in the
 *   division (`anomalies.division`, the party's division — the same selection as
 *   `GET /v1/anomalies?division=`). The report *counts and lists* the standing ones: `open` and
 *   `confirmed`. `dismissed` and `closed` ones are only counted in the totals.
 * - by rule × severity: standing findings per rule and severity, one row for every rule code in
 *   DOMAIN.md order (zeros included, so the table has the same shape every month: chart-ready).
 * - top parties by findings: the parties with the most standing findings; ties broken by more
 *   critical, then high, then medium findings, then party key. At most TOP_N.
 * - top parties by unsourced quantity: trading enterprises (recyclers and sorting centres that are
 *   not generators) located in the division — a generator's or an unregistered enterprise's own
 *   scrap is an origin, not unsourced, and an individual has no purchases — Σ unsourced grams
 *   of their sales made in the period (sale_results.unsourced_g, i.e. what no earlier purchase of
 *   the same material covered); only parties with some unsourced quantity; ties by party key.
 * - flow coverage: the division's active trades that occurred in the period — a trade belongs to a
 *   division when its seller or its buyer is located there — and the share of them, by count and
 *   by amount, whose payment / weighing / invoice flow is `matched`. Invoices count only over the
 *   trades that expect one (enterprise seller, or a reverse-invoiced sale), like the VAT reference
 *   sheet. Trades whose flows are not computed yet count as not matched.
 * - findings list: every standing finding with its Chinese and English summary and its evidence,
 *   most severe first, then in rule order, then by party key and id.
 */
import { createHash } from 'node:crypto';
import { formatKg, formatMoney } from '../domain/money';
import { formatRatio } from '../domain/reference-sheet';
import { periodWindow, RULE_CODES, type RuleCode, type Severity } from '../domain/rules/types';
import { canonicalJson } from '../ingest/canonical';
import { divisionLabel, isRuleCode, isSeverity, RULE_LABELS, SEVERITY_RANK } from './labels';

export const REPORT_KINDS = ['monthly_anomalies'] as const;
export type ReportKind = (typeof REPORT_KINDS)[number];

/** How many parties each "top parties" table lists. */
export const TOP_N = 10;

// ---------------------------------------------------------------------------------------------
// Input (what the repository loads)
// ---------------------------------------------------------------------------------------------

export interface FindingInput {
  id: bigint;
  rule: string;
  severity: string;
  status: string;
  party_key: string;
  party_name: string | null;
  party_kind: string | null;
  division: string;
  /** [{ id, platform, trade_id }] as stored (id is the internal trade id, a decimal string). */
  trades: readonly { id?: string | null; platform: string; trade_id: string }[];
  documents: readonly { kind: string; number: string }[];
  summary_zh: string;
  summary_en: string;
  evidence: unknown;
  rule_version: number;
  first_detected_at: Date;
  reviewed_by: string | null;
  reviewed_at: Date | null;
}

export interface UnsourcedInput {
  party_key: string;
  name: string;
  division: string;
  sold_g: bigint;
  unsourced_g: bigint;
  /** Materials with some unsourced quantity. */
  materials: readonly string[];
}

export interface CoverageInput {
  trades: bigint;
  amount_fen: bigint;
  payment: { n: bigint; fen: bigint };
  weighing: { n: bigint; fen: bigint };
  /** Trades that expect an invoice, and those of them whose invoice flow is matched. */
  invoice_expected: { n: bigint; fen: bigint };
  invoice: { n: bigint; fen: bigint };
  overall: { reconciled: bigint; pending: bigint; discrepant: bigint; not_computed: bigint };
}

export interface MonthlyAnomaliesInput {
  division: string;
  period: string;
  /** Settings version of each rule in force for the period. */
  ruleVersions: Readonly<Record<string, number>>;
  findings: readonly FindingInput[];
  /** Enterprises with unsourced sales in the period (any order; the builder ranks them). */
  unsourced: readonly UnsourcedInput[];
  coverage: CoverageInput;
}

// ---------------------------------------------------------------------------------------------
// Content (what the files show; JSON-safe: strings and small integers only)
// ---------------------------------------------------------------------------------------------

export interface SeverityCounts {
  critical: number;
  high: number;
  medium: number;
  low: number;
}

export interface ByRuleRow extends SeverityCounts {
  rule: RuleCode;
  name_zh: string;
  name_en: string;
  total: number;
}

export interface TopFindingsParty extends SeverityCounts {
  rank: number;
  party_key: string;
  name: string;
  kind: 'enterprise' | 'natural_person';
  division: string;
  findings: number;
  rules: string[];
}

export interface TopUnsourcedParty {
  rank: number;
  party_key: string;
  name: string;
  division: string;
  /** kg, 3 decimals. */
  unsourced_kg: string;
  sold_kg: string;
  /** unsourced ÷ sold, 4 decimals; null when nothing was sold. */
  unsourced_share: string | null;
  materials: string[];
}

export interface CoverageFlow {
  matched_trades: number;
  /** 4 decimals; null when there is nothing to cover. */
  trade_ratio: string | null;
  amount_ratio: string | null;
}

export interface ReportFinding {
  id: string;
  rule: string;
  rule_name_zh: string;
  rule_name_en: string;
  severity: Severity;
  status: 'open' | 'confirmed';
  party_key: string;
  party_name: string;
  party_kind: 'enterprise' | 'natural_person';
  division: string;
  /** `platform:trade_id` of each supporting trade. */
  trades: string[];
  /** Internal trade ids (for the audit log's subjects). */
  trade_ids: string[];
  documents: { kind: string; number: string }[];
  summary_zh: string;
  summary_en: string;
  evidence: unknown;
  rule_version: number;
  first_detected_at: string;
  reviewed_by: string | null;
  reviewed_at: string | null;
}

export interface MonthlyAnomaliesContent {
  kind: 'monthly_anomalies';
  division: { code: string; name_zh: string; name_en: string };
  period: string;
  /** [start, end) of the Asia/Shanghai month, RFC 3339. */
  period_start: string;
  period_end: string;
  rule_versions: Record<string, number>;
  totals: {
    /** Standing findings: open + confirmed. */
    findings: number;
    open: number;
    confirmed: number;
    dismissed: number;
    closed: number;
    /** Distinct parties with a standing finding. */
    parties: number;
    by_severity: SeverityCounts;
  };
  by_rule: ByRuleRow[];
  top_parties_by_findings: TopFindingsParty[];
  top_parties_by_unsourced: TopUnsourcedParty[];
  flow_coverage: {
    trades: number;
    amount: string;
    payment: CoverageFlow;
    weighing: CoverageFlow;
    invoice: CoverageFlow & { expected_trades: number; expected_amount: string };
    overall: { reconciled: number; pending: number; discrepant: number; not_computed: number };
  };
  findings: ReportFinding[];
}

// ---------------------------------------------------------------------------------------------
// Building
// ---------------------------------------------------------------------------------------------

/** An instant as RFC 3339 in Asia/Shanghai (UTC+8 all year), whole seconds. */
export function shanghaiIso(d: Date): string {
  return `${new Date(d.getTime() + 8 * 3_600_000).toISOString().slice(0, 19)}+08:00`;
}

const zeroCounts = (): SeverityCounts => ({ critical: 0, high: 0, medium: 0, low: 0 });
const ruleIndex = (rule: string) => {
  const i = (RULE_CODES as readonly string[]).indexOf(rule);
  return i === -1 ? RULE_CODES.length : i;
};
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const cmpBig = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);

export function buildMonthlyAnomalies(input: MonthlyAnomaliesInput): MonthlyAnomaliesContent {
  const w = periodWindow(input.period);
  const totals = {
    findings: 0,
    open: 0,
    confirmed: 0,
    dismissed: 0,
    closed: 0,
    parties: 0,
    by_severity: zeroCounts(),
  };
  const byRule = new Map<RuleCode, ByRuleRow>(
    RULE_CODES.map((rule) => [
      rule,
      { rule, name_zh: RULE_LABELS[rule].zh, name_en: RULE_LABELS[rule].en, ...zeroCounts(), total: 0 },
    ]),
  );
  const parties = new Map<
    string,
    SeverityCounts & { findings: number; rules: Set<string>; name: string; kind: string; division: string }
  >();
  const standing: FindingInput[] = [];

  for (const f of input.findings) {
    if (f.status === 'dismissed') totals.dismissed++;
    else if (f.status === 'closed') totals.closed++;
    if (f.status !== 'open' && f.status !== 'confirmed') continue;
    // Stored findings always carry a known severity; anything else would be a schema breach.
    const severity: Severity = isSeverity(f.severity) ? f.severity : 'low';
    standing.push(f);
    totals[f.status]++;
    totals.findings++;
    totals.by_severity[severity]++;
    if (isRuleCode(f.rule)) {
      const row = byRule.get(f.rule)!;
      row[severity]++;
      row.total++;
    }
    let p = parties.get(f.party_key);
    if (!p) {
      p = {
        ...zeroCounts(),
        findings: 0,
        rules: new Set(),
        name: f.party_name ?? '',
        kind: f.party_kind ?? 'enterprise',
        division: f.division,
      };
      parties.set(f.party_key, p);
    }
    p.findings++;
    p[severity]++;
    p.rules.add(f.rule);
  }
  totals.parties = parties.size;

  const topFindings = [...parties]
    .sort(
      ([ka, a], [kb, b]) =>
        b.findings - a.findings ||
        b.critical - a.critical ||
        b.high - a.high ||
        b.medium - a.medium ||
        cmp(ka, kb),
    )
    .slice(0, TOP_N)
    .map(
      ([key, p], i): TopFindingsParty => ({
        rank: i + 1,
        party_key: key,
        name: p.name,
        kind: p.kind === 'natural_person' ? 'natural_person' : 'enterprise',
        division: p.division,
        findings: p.findings,
        critical: p.critical,
        high: p.high,
        medium: p.medium,
        low: p.low,
        rules: [...p.rules].sort((a, b) => ruleIndex(a) - ruleIndex(b) || cmp(a, b)),
      }),
    );

  const topUnsourced = input.unsourced
    .filter((u) => u.unsourced_g > 0n)
    .slice()
    .sort((a, b) => cmpBig(b.unsourced_g, a.unsourced_g) || cmp(a.party_key, b.party_key))
    .slice(0, TOP_N)
    .map(
      (u, i): TopUnsourcedParty => ({
        rank: i + 1,
        party_key: u.party_key,
        name: u.name,
        division: u.division,
        unsourced_kg: formatKg(u.unsourced_g),
        sold_kg: formatKg(u.sold_g),
        unsourced_share: formatRatio(u.unsourced_g, u.sold_g),
        materials: [...u.materials].sort(cmp),
      }),
    );

  const c = input.coverage;
  const flow = (m: { n: bigint; fen: bigint }, n: bigint, fen: bigint): CoverageFlow => ({
    matched_trades: Number(m.n),
    trade_ratio: formatRatio(m.n, n),
    amount_ratio: formatRatio(m.fen, fen),
  });

  const findings = standing
    .slice()
    .sort(
      (a, b) =>
        (SEVERITY_RANK[b.severity as Severity] ?? 0) - (SEVERITY_RANK[a.severity as Severity] ?? 0) ||
        ruleIndex(a.rule) - ruleIndex(b.rule) ||
        cmp(a.party_key, b.party_key) ||
        cmpBig(a.id, b.id),
    )
    .map((f): ReportFinding => {
      const label = isRuleCode(f.rule) ? RULE_LABELS[f.rule] : { zh: f.rule, en: f.rule };
      return {
        id: f.id.toString(),
        rule: f.rule,
        rule_name_zh: label.zh,
        rule_name_en: label.en,
        severity: isSeverity(f.severity) ? f.severity : 'low',
        status: f.status === 'confirmed' ? 'confirmed' : 'open',
        party_key: f.party_key,
        party_name: f.party_name ?? '',
        party_kind: f.party_kind === 'natural_person' ? 'natural_person' : 'enterprise',
        division: f.division,
        trades: f.trades.map((t) => `${t.platform}:${t.trade_id}`),
        trade_ids: f.trades.flatMap((t) => (typeof t.id === 'string' && /^\d+$/.test(t.id) ? [t.id] : [])),
        documents: f.documents.map((d) => ({ kind: d.kind, number: d.number })),
        summary_zh: f.summary_zh,
        summary_en: f.summary_en,
        evidence: f.evidence ?? null,
        rule_version: f.rule_version,
        first_detected_at: shanghaiIso(f.first_detected_at),
        // As the API shows it: an open finding (reopened after a dismissal, say) has no standing review.
        reviewed_by: f.status === 'open' ? null : f.reviewed_by,
        reviewed_at: f.status !== 'open' && f.reviewed_at ? shanghaiIso(f.reviewed_at) : null,
      };
    });

  const ruleVersions: Record<string, number> = {};
  for (const k of Object.keys(input.ruleVersions).sort(cmp)) ruleVersions[k] = input.ruleVersions[k]!;

  return {
    kind: 'monthly_anomalies',
    division: divisionLabel(input.division),
    period: input.period,
    period_start: shanghaiIso(new Date(w.startMs)),
    period_end: shanghaiIso(new Date(w.endMs)),
    rule_versions: ruleVersions,
    totals,
    by_rule: [...byRule.values()],
    top_parties_by_findings: topFindings,
    top_parties_by_unsourced: topUnsourced,
    flow_coverage: {
      trades: Number(c.trades),
      amount: formatMoney(c.amount_fen),
      payment: flow(c.payment, c.trades, c.amount_fen),
      weighing: flow(c.weighing, c.trades, c.amount_fen),
      invoice: {
        ...flow(c.invoice, c.invoice_expected.n, c.invoice_expected.fen),
        expected_trades: Number(c.invoice_expected.n),
        expected_amount: formatMoney(c.invoice_expected.fen),
      },
      overall: {
        reconciled: Number(c.overall.reconciled),
        pending: Number(c.overall.pending),
        discrepant: Number(c.overall.discrepant),
        not_computed: Number(c.overall.not_computed),
      },
    },
    findings,
  };
}

/**
 * The data version of a content: hex SHA-256 of its canonical JSON. It covers everything the
 * report says — findings with their review state, coverage, rankings, rule versions — and nothing
 * about when or by whom it was produced, so equal data gives an equal version.
 */
export function dataVersionOf(content: MonthlyAnomaliesContent): string {
  return createHash('sha256').update(canonicalJson(content)).digest('hex');
}

/** Every party key and internal trade id a report discloses (the audit log's subjects). */
export function reportSubjects(content: MonthlyAnomaliesContent): { parties: string[]; trades: string[] } {
  const parties = new Set<string>();
  const trades = new Set<string>();
  for (const f of content.findings) {
    parties.add(f.party_key);
    for (const t of f.trade_ids) trades.add(t);
  }
  for (const p of content.top_parties_by_findings) parties.add(p.party_key);
  for (const p of content.top_parties_by_unsourced) parties.add(p.party_key);
  return { parties: [...parties].sort(cmp), trades: [...trades] };
}
