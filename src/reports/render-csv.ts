import { canonicalJson } from '../ingest/canonical';
import { SEVERITY_LABELS, STATUS_LABELS } from './labels';
import type { MonthlyAnomaliesContent } from './monthly-anomalies';

/** Who/what/when of a report, shown in every file next to its content. */
export interface ReportMeta {
  id: string;
  data_version: string;
  /** RFC 3339 (Asia/Shanghai), or null when no platform had sent anything. */
  data_clock: string | null;
  requested_by: string;
  requested_at: string;
}

/**
 * The CSV of a monthly_anomalies report: UTF-8 with a byte-order mark (so that spreadsheet
 * programs open the Chinese text in the right encoding), RFC 4180 quoting, CRLF line ends.
 *
 * One file, several sections, each one table:
 *
 *   [section_id] 中文标题 English title      ← one field: the section's title
 *   column_a,column_b,…                       ← header (snake_case keys, stable)
 *   …rows…
 *                                            ← an empty line ends the section
 *
 * Sections, in order: summary (field,value), by_rule, top_parties_by_findings,
 * top_parties_by_unsourced, flow_coverage, findings. A reader splits on the title records
 * (a record of one field that starts with `[`). Numbers are plain decimals (no thousands
 * separators); ratios have 4 decimals; quantities are kg with 3 decimals; money is CNY with 2.
 *
 * Text that a spreadsheet would take for a formula (starting with = + - @, tab or CR) is
 * prefixed with an apostrophe: names and summaries come from outside (CSV injection).
 */
export const CSV_SECTIONS = [
  'summary',
  'by_rule',
  'top_parties_by_findings',
  'top_parties_by_unsourced',
  'flow_coverage',
  'findings',
] as const;

const BOM = '\uFEFF';
const PLAIN_NUMBER = /^-?\d+(\.\d+)?$/;

function cell(v: unknown): string {
  let s: string;
  if (v === null || v === undefined) s = '';
  else if (typeof v === 'string') s = v;
  else if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') s = String(v);
  else s = JSON.stringify(v);
  if (/^[=+\-@\t\r]/.test(s) && !PLAIN_NUMBER.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

const record = (values: readonly unknown[]) => values.map(cell).join(',');

export function renderCsv(content: MonthlyAnomaliesContent, meta: ReportMeta): Buffer {
  const lines: string[] = [];
  const section = (
    id: (typeof CSV_SECTIONS)[number],
    zh: string,
    en: string,
    header: string[],
    rows: unknown[][],
  ) => {
    lines.push(record([`[${id}] ${zh} ${en}`]), record(header), ...rows.map(record), '');
  };
  const t = content.totals;
  const fc = content.flow_coverage;

  section(
    'summary',
    '报告概要',
    'Summary',
    ['field', 'value'],
    [
      ['kind', content.kind],
      ['report_id', meta.id],
      ['division', content.division.code],
      ['division_name_zh', content.division.name_zh],
      ['division_name_en', content.division.name_en],
      ['period', content.period],
      ['period_start', content.period_start],
      ['period_end', content.period_end],
      ['data_clock', meta.data_clock],
      ['data_version', meta.data_version],
      ['requested_by', meta.requested_by],
      ['requested_at', meta.requested_at],
      ['findings', t.findings],
      ['open', t.open],
      ['confirmed', t.confirmed],
      ['dismissed', t.dismissed],
      ['closed', t.closed],
      ['parties', t.parties],
      ['critical', t.by_severity.critical],
      ['high', t.by_severity.high],
      ['medium', t.by_severity.medium],
      ['low', t.by_severity.low],
      ['trades', fc.trades],
      ['amount', fc.amount],
      ['trades_reconciled', fc.overall.reconciled],
      ['trades_pending', fc.overall.pending],
      ['trades_discrepant', fc.overall.discrepant],
      ['trades_not_computed', fc.overall.not_computed],
      // Canonical JSON: keys sorted, whatever order the stored content has.
      ['rule_versions', canonicalJson(content.rule_versions)],
    ],
  );
  section(
    'by_rule',
    '按规则和严重程度统计',
    'Findings by rule and severity',
    ['rule', 'rule_name_zh', 'rule_name_en', 'critical', 'high', 'medium', 'low', 'total'],
    content.by_rule.map((r) => [r.rule, r.name_zh, r.name_en, r.critical, r.high, r.medium, r.low, r.total]),
  );
  section(
    'top_parties_by_findings',
    '异常最多的主体',
    'Top parties by findings',
    [
      'rank',
      'party_key',
      'name',
      'kind',
      'division',
      'findings',
      'critical',
      'high',
      'medium',
      'low',
      'rules',
    ],
    content.top_parties_by_findings.map((p) => [
      p.rank,
      p.party_key,
      p.name,
      p.kind,
      p.division,
      p.findings,
      p.critical,
      p.high,
      p.medium,
      p.low,
      p.rules.join(' '),
    ]),
  );
  section(
    'top_parties_by_unsourced',
    '无来源数量最多的企业',
    'Top parties by unsourced quantity',
    ['rank', 'party_key', 'name', 'division', 'unsourced_kg', 'sold_kg', 'unsourced_share', 'materials'],
    content.top_parties_by_unsourced.map((p) => [
      p.rank,
      p.party_key,
      p.name,
      p.division,
      p.unsourced_kg,
      p.sold_kg,
      p.unsourced_share,
      p.materials.join(' '),
    ]),
  );
  section(
    'flow_coverage',
    '四流覆盖率',
    'Flow coverage',
    ['flow', 'of_trades', 'of_amount', 'matched_trades', 'trade_ratio', 'amount_ratio'],
    [
      [
        'payment',
        fc.trades,
        fc.amount,
        fc.payment.matched_trades,
        fc.payment.trade_ratio,
        fc.payment.amount_ratio,
      ],
      [
        'weighing',
        fc.trades,
        fc.amount,
        fc.weighing.matched_trades,
        fc.weighing.trade_ratio,
        fc.weighing.amount_ratio,
      ],
      [
        'invoice',
        fc.invoice.expected_trades,
        fc.invoice.expected_amount,
        fc.invoice.matched_trades,
        fc.invoice.trade_ratio,
        fc.invoice.amount_ratio,
      ],
    ],
  );
  section(
    'findings',
    '异常明细（待核查与已确认）',
    'Findings (open and confirmed)',
    [
      'id',
      'rule',
      'rule_name_zh',
      'severity',
      'severity_zh',
      'status',
      'status_zh',
      'party_key',
      'party_name',
      'party_kind',
      'division',
      'trades',
      'documents',
      'summary_zh',
      'summary_en',
      'evidence',
      'rule_version',
      'first_detected_at',
      'reviewed_by',
      'reviewed_at',
    ],
    content.findings.map((f) => [
      f.id,
      f.rule,
      f.rule_name_zh,
      f.severity,
      SEVERITY_LABELS[f.severity].zh,
      f.status,
      STATUS_LABELS[f.status]?.zh ?? f.status,
      f.party_key,
      f.party_name,
      f.party_kind,
      f.division,
      f.trades.join(' '),
      f.documents.map((d) => `${d.kind}:${d.number}`).join(' '),
      f.summary_zh,
      f.summary_en,
      canonicalJson(f.evidence),
      f.rule_version,
      f.first_detected_at,
      f.reviewed_by,
      f.reviewed_at,
    ]),
  );
  return Buffer.from(BOM + lines.join('\r\n'), 'utf8');
}
