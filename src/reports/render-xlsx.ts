import ExcelJS from 'exceljs';
import { canonicalJson } from '../ingest/canonical';
import { SEVERITY_LABELS, STATUS_LABELS } from './labels';
import type { MonthlyAnomaliesContent } from './monthly-anomalies';
import type { ReportMeta } from './render-csv';

/**
 * The XLSX of a monthly_anomalies report (exceljs). Sheets:
 * - `概要 Summary`: the report's identity, totals, and the rules × severities table — a plain
 *   rectangular block with one header row, also named `FindingsByRule`, so a chart can be made
 *   from it in two clicks;
 * - `主体 Parties`: top parties by findings and by unsourced quantity;
 * - `覆盖 Coverage`: the month's flow coverage;
 * - `明细 Findings`: every open and confirmed finding, header frozen, with an autofilter.
 * Counts, kg, CNY and ratios are numeric cells (formatted: #,##0.000 kg, #,##0.00 CNY, 0.00%), so
 * that they sum and chart; each is the exact decimal string of the content converted once, for
 * display, at the very end of the pipeline.
 */
export const XLSX_SHEETS = {
  summary: '概要 Summary',
  parties: '主体 Parties',
  coverage: '覆盖 Coverage',
  findings: '明细 Findings',
} as const;

/** Where the rules × severities table starts on the summary sheet (its header row). */
export const BY_RULE_HEADER_ROW = 30;

const HEADER_FILL: ExcelJS.Fill = { type: 'pattern', pattern: 'solid', fgColor: { argb: 'FFDDE4EE' } };
const KG = '#,##0.000';
const CNY = '#,##0.00';
const PCT = '0.00%';

const num = (s: string | null): number | null => (s === null ? null : Number(s));

function header(ws: ExcelJS.Worksheet, rowNumber: number, values: string[]): void {
  const row = ws.getRow(rowNumber);
  row.values = values;
  row.font = { bold: true };
  row.eachCell((c) => {
    c.fill = HEADER_FILL;
    c.alignment = { vertical: 'middle', wrapText: true };
  });
}

export async function renderXlsx(content: MonthlyAnomaliesContent, meta: ReportMeta): Promise<Buffer> {
  const wb = new ExcelJS.Workbook();
  wb.creator = 'Retrace';
  wb.title = `${content.division.name_zh} ${content.period} 月度异常报告`;
  // Fixed times: the file's own metadata says when the report was asked for, not rendered.
  wb.created = new Date(meta.requested_at);
  wb.modified = new Date(meta.requested_at);
  const t = content.totals;
  const fc = content.flow_coverage;

  // --- Summary -------------------------------------------------------------------------------
  const s = wb.addWorksheet(XLSX_SHEETS.summary, { views: [{ showGridLines: false }] });
  s.columns = [
    { width: 26 },
    { width: 30 },
    { width: 12 },
    { width: 12 },
    { width: 12 },
    { width: 12 },
    { width: 12 },
  ];
  s.getCell('A1').value = `再生资源行业月度异常分析报告  Monthly anomaly report`;
  s.getCell('A1').font = { bold: true, size: 16 };
  s.getCell('A2').value =
    `${content.division.name_zh} ${content.division.name_en} (${content.division.code}) · ${content.period}`;
  s.getCell('A2').font = { size: 12 };
  const facts: [string, ExcelJS.CellValue, string?][] = [
    ['报告编号 Report id', meta.id],
    ['区划 Division', content.division.code],
    ['所属期 Period', content.period],
    ['期间 Window', `${content.period_start} – ${content.period_end}`],
    ['数据时钟 Data clock', meta.data_clock ?? '—'],
    ['数据版本 Data version', meta.data_version],
    ['请求方 Requested by', meta.requested_by],
    ['请求时间 Requested at', meta.requested_at],
    ['在册异常 Standing findings', t.findings],
    ['待核查 Open', t.open],
    ['已确认 Confirmed', t.confirmed],
    ['已排除 Dismissed', t.dismissed],
    ['已关闭 Closed', t.closed],
    ['涉及主体 Parties', t.parties],
    ['严重 Critical', t.by_severity.critical],
    ['高 High', t.by_severity.high],
    ['中 Medium', t.by_severity.medium],
    ['低 Low', t.by_severity.low],
    ['本月交易 Trades of the month', fc.trades],
    ['交易金额 Amount (CNY)', Number(fc.amount), CNY],
    [
      '规则版本 Rule versions',
      Object.entries(content.rule_versions)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([r, v]) => `${r} v${v}`)
        .join(', '),
    ],
  ];
  facts.forEach(([label, value, fmt], i) => {
    const row = s.getRow(4 + i);
    row.getCell(1).value = label;
    row.getCell(1).font = { bold: true };
    row.getCell(2).value = value;
    if (fmt) row.getCell(2).numFmt = fmt;
    row.getCell(2).alignment = { horizontal: 'left', wrapText: false };
  });
  s.getCell(`A${BY_RULE_HEADER_ROW - 1}`).value = '按规则和严重程度统计 Findings by rule and severity';
  s.getCell(`A${BY_RULE_HEADER_ROW - 1}`).font = { bold: true, size: 12 };
  header(s, BY_RULE_HEADER_ROW, [
    '规则 Rule',
    '名称 Name',
    '严重 Critical',
    '高 High',
    '中 Medium',
    '低 Low',
    '合计 Total',
  ]);
  content.by_rule.forEach((r, i) => {
    s.getRow(BY_RULE_HEADER_ROW + 1 + i).values = [
      r.rule,
      `${r.name_zh} ${r.name_en}`,
      r.critical,
      r.high,
      r.medium,
      r.low,
      r.total,
    ];
  });
  const lastRuleRow = BY_RULE_HEADER_ROW + content.by_rule.length;
  wb.definedNames.add(
    `'${XLSX_SHEETS.summary}'!$A$${BY_RULE_HEADER_ROW}:$G$${lastRuleRow}`,
    'FindingsByRule',
  );

  // --- Parties -------------------------------------------------------------------------------
  const p = wb.addWorksheet(XLSX_SHEETS.parties);
  p.columns = [
    { width: 8 },
    { width: 38 },
    { width: 34 },
    { width: 14 },
    { width: 10 },
    { width: 12 },
    { width: 10 },
    { width: 10 },
    { width: 10 },
    { width: 10 },
    { width: 40 },
  ];
  p.getCell('A1').value = '异常最多的主体 Top parties by findings';
  p.getCell('A1').font = { bold: true, size: 12 };
  header(p, 2, [
    '排名 Rank',
    '主体 Party key',
    '名称 Name',
    '类型 Kind',
    '区划 Division',
    '异常 Findings',
    '严重 Critical',
    '高 High',
    '中 Medium',
    '低 Low',
    '规则 Rules',
  ]);
  content.top_parties_by_findings.forEach((x, i) => {
    p.getRow(3 + i).values = [
      x.rank,
      x.party_key,
      x.name,
      x.kind,
      x.division,
      x.findings,
      x.critical,
      x.high,
      x.medium,
      x.low,
      x.rules.join(' '),
    ];
  });
  const u0 = 3 + Math.max(content.top_parties_by_findings.length, 1) + 2;
  p.getCell(`A${u0}`).value = '无来源数量最多的企业 Top parties by unsourced quantity (kg)';
  p.getCell(`A${u0}`).font = { bold: true, size: 12 };
  header(p, u0 + 1, [
    '排名 Rank',
    '主体 Party key',
    '名称 Name',
    '区划 Division',
    '无来源 Unsourced kg',
    '销售 Sold kg',
    '占比 Share',
    '品类 Materials',
  ]);
  content.top_parties_by_unsourced.forEach((x, i) => {
    const row = p.getRow(u0 + 2 + i);
    row.values = [
      x.rank,
      x.party_key,
      x.name,
      x.division,
      num(x.unsourced_kg),
      num(x.sold_kg),
      num(x.unsourced_share),
      x.materials.join(' '),
    ];
    row.getCell(5).numFmt = KG;
    row.getCell(6).numFmt = KG;
    row.getCell(7).numFmt = PCT;
  });

  // --- Coverage ------------------------------------------------------------------------------
  const c = wb.addWorksheet(XLSX_SHEETS.coverage);
  c.columns = [{ width: 22 }, { width: 14 }, { width: 18 }, { width: 14 }, { width: 14 }, { width: 14 }];
  c.getCell('A1').value = '四流覆盖率 Flow coverage (trades whose seller or buyer is in the division)';
  c.getCell('A1').font = { bold: true, size: 12 };
  header(c, 2, [
    '流 Flow',
    '交易数 Of trades',
    '金额 Of amount (CNY)',
    '匹配 Matched',
    '笔数占比 By count',
    '金额占比 By amount',
  ]);
  const flows: [
    string,
    number,
    string,
    { matched_trades: number; trade_ratio: string | null; amount_ratio: string | null },
  ][] = [
    ['资金流 payment', fc.trades, fc.amount, fc.payment],
    ['货物流 weighing', fc.trades, fc.amount, fc.weighing],
    ['发票流 invoice', fc.invoice.expected_trades, fc.invoice.expected_amount, fc.invoice],
  ];
  flows.forEach(([name, n, amount, f], i) => {
    const row = c.getRow(3 + i);
    row.values = [name, n, Number(amount), f.matched_trades, num(f.trade_ratio), num(f.amount_ratio)];
    row.getCell(3).numFmt = CNY;
    row.getCell(5).numFmt = PCT;
    row.getCell(6).numFmt = PCT;
  });
  c.getCell('A7').value = '总体状态 Overall status';
  c.getCell('A7').font = { bold: true };
  const overall: [string, number][] = [
    ['已核对 reconciled', fc.overall.reconciled],
    ['待定 pending', fc.overall.pending],
    ['有差异 discrepant', fc.overall.discrepant],
    ['未计算 not computed', fc.overall.not_computed],
  ];
  overall.forEach(([name, n], i) => {
    c.getRow(8 + i).values = [name, n];
  });

  // --- Findings ------------------------------------------------------------------------------
  const f = wb.addWorksheet(XLSX_SHEETS.findings, { views: [{ state: 'frozen', ySplit: 1 }] });
  const cols: { key: string; header: string; width: number }[] = [
    { key: 'id', header: '编号 ID', width: 10 },
    { key: 'rule', header: '规则 Rule', width: 22 },
    { key: 'rule_name', header: '规则名称 Rule name', width: 18 },
    { key: 'severity', header: '严重程度 Severity', width: 12 },
    { key: 'status', header: '状态 Status', width: 12 },
    { key: 'party_key', header: '主体 Party key', width: 38 },
    { key: 'party_name', header: '名称 Name', width: 30 },
    { key: 'party_kind', header: '类型 Kind', width: 14 },
    { key: 'division', header: '区划 Division', width: 10 },
    { key: 'summary_zh', header: '摘要 Summary (中文)', width: 60 },
    { key: 'summary_en', header: 'Summary (English)', width: 60 },
    { key: 'trades', header: '交易 Trades', width: 30 },
    { key: 'documents', header: '单据 Documents', width: 24 },
    { key: 'evidence', header: '证据 Evidence', width: 60 },
    { key: 'rule_version', header: '规则版本 Rule version', width: 10 },
    { key: 'first_detected_at', header: '首次发现 First detected', width: 26 },
    { key: 'reviewed_by', header: '复核人 Reviewed by', width: 14 },
    { key: 'reviewed_at', header: '复核时间 Reviewed at', width: 26 },
  ];
  f.columns = cols;
  header(
    f,
    1,
    cols.map((c) => c.header),
  );
  for (const x of content.findings) {
    const row = f.addRow({
      id: Number(x.id),
      rule: x.rule,
      rule_name: x.rule_name_zh,
      severity: `${SEVERITY_LABELS[x.severity].zh} ${x.severity}`,
      status: `${STATUS_LABELS[x.status]?.zh ?? ''} ${x.status}`,
      party_key: x.party_key,
      party_name: x.party_name,
      party_kind: x.party_kind,
      division: x.division,
      summary_zh: x.summary_zh,
      summary_en: x.summary_en,
      trades: x.trades.join(' '),
      documents: x.documents.map((d) => `${d.kind}:${d.number}`).join(' '),
      evidence: canonicalJson(x.evidence),
      rule_version: x.rule_version,
      first_detected_at: x.first_detected_at,
      reviewed_by: x.reviewed_by ?? '',
      reviewed_at: x.reviewed_at ?? '',
    });
    row.alignment = { vertical: 'top', wrapText: true };
  }
  f.autoFilter = {
    from: { row: 1, column: 1 },
    to: { row: Math.max(1, content.findings.length + 1), column: cols.length },
  };

  return Buffer.from(await wb.xlsx.writeBuffer());
}
