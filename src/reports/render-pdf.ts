import PDFDocument from 'pdfkit';
import { SEVERITIES, type Severity } from '../domain/rules/types';
import { cjkFont } from './fonts';
import { SEVERITY_LABELS, STATUS_LABELS } from './labels';
import type { ByRuleRow, MonthlyAnomaliesContent } from './monthly-anomalies';
import type { ReportMeta } from './render-csv';

/**
 * The PDF of a monthly_anomalies report (pdfkit): a title page; the findings by rule and
 * severity as a stacked bar chart drawn with pdfkit's own primitives, and as a table; the top
 * parties; the flow coverage; then every open and confirmed finding with its Chinese and English
 * summary. All text is set in Noto Sans SC, embedded and subset (./fonts.ts), so Chinese renders
 * on any reader and the text layer is searchable and extractable (pdfkit writes a ToUnicode map).
 * Page footers carry the division, period, report id and "page n of m".
 */

/** Section headings, exported so tests can look for them in the text layer. */
export const PDF_HEADINGS = {
  title: '再生资源行业月度异常分析报告',
  byRule: '一、按规则与严重程度统计',
  parties: '二、重点主体',
  coverage: '三、四流覆盖率',
  findings: '四、异常明细',
} as const;

export const SEVERITY_COLORS: { readonly [S in Severity]: string } = {
  critical: '#7f1d1d',
  high: '#dc2626',
  medium: '#f59e0b',
  low: '#60a5fa',
};

const MARGIN = { top: 56, bottom: 60, left: 50, right: 50 };
const GREY = '#555555';
const RULE_LINE = '#c8ced8';
const HEADER_FILL = '#e5eaf2';

type Doc = PDFKit.PDFDocument;

/** Control characters would corrupt the text operators; they have no place in a report anyway. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const clean = (s: string) => s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, ' ');

interface Column {
  header: string;
  width: number;
  align?: 'left' | 'right' | 'center';
}

class Layout {
  constructor(readonly doc: Doc) {}

  get left(): number {
    return this.doc.page.margins.left;
  }
  get width(): number {
    return this.doc.page.width - this.doc.page.margins.left - this.doc.page.margins.right;
  }
  get bottom(): number {
    return this.doc.page.height - this.doc.page.margins.bottom;
  }

  /** Starts a new page unless `height` points still fit on this one. */
  ensure(height: number): void {
    if (this.doc.y + height > this.bottom) this.doc.addPage();
  }

  regular(size: number, color = '#000000'): this {
    this.doc.font('cjk').fontSize(size).fillColor(color);
    return this;
  }
  bold(size: number, color = '#000000'): this {
    this.doc.font('cjk-bold').fontSize(size).fillColor(color);
    return this;
  }

  /** A section heading, kept on one page with the first `follow` points of what comes next. */
  heading(zh: string, en: string, follow = 80): void {
    this.ensure(45 + follow);
    this.doc.moveDown(0.6);
    this.bold(15).doc.text(clean(zh), this.left, this.doc.y, { width: this.width });
    this.regular(10, GREY).doc.text(clean(en), { width: this.width });
    this.doc.moveDown(0.4);
  }

  paragraph(s: string, size = 9.5, color = '#000000'): void {
    this.regular(size, color);
    this.ensure(this.doc.heightOfString(clean(s), { width: this.width }));
    this.doc.text(clean(s), this.left, this.doc.y, { width: this.width });
  }

  private geometry(columns: readonly Column[], size: number) {
    const pad = 3;
    const scale = this.width / columns.reduce((a, c) => a + c.width, 0);
    const widths = columns.map((c) => c.width * scale);
    const rowHeight = (cells: readonly string[], bold: boolean) => {
      if (bold) this.bold(size);
      else this.regular(size);
      return (
        Math.max(
          ...cells.map((cell, i) => this.doc.heightOfString(clean(cell), { width: widths[i]! - 2 * pad })),
          size,
        ) +
        2 * pad
      );
    };
    return { pad, widths, rowHeight };
  }

  /**
   * The height a table must find free before it starts: all of it when short (a short table is
   * kept on one page), else its header and first row; plus its title.
   */
  tableStart(t: Table): number {
    const size = t.size ?? 8.5;
    const { rowHeight } = this.geometry(t.columns, size);
    const header = rowHeight(
      t.columns.map((c) => c.header),
      true,
    );
    const whole = header + t.rows.reduce((a, r) => a + rowHeight(r, false), 0);
    const pageBody = this.bottom - this.doc.page.margins.top;
    const first = whole <= pageBody / 2 ? whole : header + (t.rows[0] ? rowHeight(t.rows[0], false) : 0);
    return first + (t.title ? 20 : 0);
  }

  /** A table with a shaded header row (repeated after a page break) and wrapped cells. */
  table(t: Table): void {
    const size = t.size ?? 8.5;
    const doc = this.doc;
    const { pad, widths, rowHeight } = this.geometry(t.columns, size);
    const drawRow = (cells: readonly string[], isHeader: boolean) => {
      const h = rowHeight(cells, isHeader);
      const y = doc.y;
      if (isHeader) doc.rect(this.left, y, this.width, h).fill(HEADER_FILL);
      let x = this.left;
      cells.forEach((cell, i) => {
        (isHeader ? this.bold(size) : this.regular(size)).doc.text(clean(cell), x + pad, y + pad, {
          width: widths[i]! - 2 * pad,
          align: t.columns[i]?.align ?? 'left',
        });
        x += widths[i]!;
      });
      doc
        .moveTo(this.left, y + h)
        .lineTo(this.left + this.width, y + h)
        .lineWidth(0.5)
        .strokeColor(RULE_LINE)
        .stroke();
      doc.x = this.left;
      doc.y = y + h;
    };
    this.ensure(this.tableStart(t));
    if (t.title) {
      this.bold(10).doc.text(clean(t.title), this.left, doc.y, { width: this.width });
      doc.moveDown(0.3);
    }
    if (t.rows.length === 0) {
      this.paragraph('无 None', 9, GREY);
      doc.moveDown(0.5);
      return;
    }
    const headers = t.columns.map((c) => c.header);
    drawRow(headers, true);
    for (const r of t.rows) {
      if (doc.y + rowHeight(r, false) > this.bottom) {
        doc.addPage();
        drawRow(headers, true);
      }
      drawRow(r, false);
    }
    doc.moveDown(0.5);
  }
}

interface Table {
  columns: readonly Column[];
  rows: readonly string[][];
  size?: number;
  /** A bold line above the table, kept with it. */
  title?: string;
}

/** A round axis step (1, 2 or 5 × 10^k) giving about five ticks up to `max`. */
function axisStep(max: number): number {
  const raw = Math.max(1, max / 5);
  const pow = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * pow >= raw) return m * pow;
  return 10 * pow;
}

/** Horizontal stacked bars: one per rule with standing findings, one colour per severity. */
function drawChart(l: Layout, rows: readonly ByRuleRow[]): void {
  const doc = l.doc;
  const data = rows.filter((r) => r.total > 0);
  if (data.length === 0) {
    l.paragraph('本期无待核查或已确认的异常。 No open or confirmed findings this period.', 10, GREY);
    return;
  }
  const labelW = 175;
  const barX = l.left + labelW;
  const barW = l.width - labelW - 30;
  const barH = 11;
  const gap = 7;
  const max = Math.max(...data.map((r) => r.total));
  const step = axisStep(max);
  const top = Math.ceil(max / step) * step;
  l.ensure(30 + data.length * (barH + gap) + 30);

  // Legend.
  let lx = barX;
  const ly = doc.y;
  for (const s of [...SEVERITIES].reverse()) {
    doc.rect(lx, ly + 2, 9, 9).fill(SEVERITY_COLORS[s]);
    l.regular(8.5).doc.text(`${SEVERITY_LABELS[s].zh} ${s}`, lx + 12, ly, { lineBreak: false });
    lx += 70;
  }
  const y0 = ly + 22;

  // Grid and axis labels.
  const chartH = data.length * (barH + gap);
  for (let v = 0; v <= top; v += step) {
    const x = barX + (v / top) * barW;
    doc
      .moveTo(x, y0 - 3)
      .lineTo(x, y0 + chartH)
      .lineWidth(0.4)
      .strokeColor(RULE_LINE)
      .stroke();
    l.regular(7.5, GREY).doc.text(String(v), x - 15, y0 + chartH + 3, { width: 30, align: 'center' });
  }

  // Bars, most severe segment first (leftmost).
  data.forEach((r, i) => {
    const y = y0 + i * (barH + gap);
    l.regular(8).doc.text(`${r.name_zh} ${r.rule}`, l.left, y + 1, {
      width: labelW - 6,
      align: 'right',
      lineBreak: false,
      ellipsis: true,
    });
    let x = barX;
    for (const s of [...SEVERITIES].reverse()) {
      const n = r[s];
      if (n === 0) continue;
      const w = (n / top) * barW;
      doc.rect(x, y, w, barH).fill(SEVERITY_COLORS[s]);
      x += w;
    }
    l.bold(8).doc.text(String(r.total), x + 4, y + 1, { lineBreak: false });
  });
  doc.x = l.left;
  doc.y = y0 + chartH + 20;
}

export async function renderPdf(content: MonthlyAnomaliesContent, meta: ReportMeta): Promise<Buffer> {
  const requested = new Date(meta.requested_at);
  const doc = new PDFDocument({
    size: 'A4',
    margins: MARGIN,
    bufferPages: true,
    info: {
      Title: `${PDF_HEADINGS.title} ${content.division.name_zh} ${content.period}`,
      Author: 'Retrace',
      Subject: `monthly_anomalies ${content.division.code} ${content.period}`,
      Keywords: `report ${meta.id} data_version ${meta.data_version}`,
      // Fixed: the document says when the report was asked for, not when it was rendered.
      CreationDate: requested,
      ModDate: requested,
    },
  });
  doc.registerFont('cjk', cjkFont('regular'));
  doc.registerFont('cjk-bold', cjkFont('bold'));
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve, reject) => {
    doc.on('end', () => resolve());
    doc.on('error', reject);
  });

  const l = new Layout(doc);
  const t = content.totals;
  const fc = content.flow_coverage;
  const pct = (r: string | null) => (r === null ? '—' : `${(Number(r) * 100).toFixed(2)}%`);

  // --- Title page ----------------------------------------------------------------------------
  doc.y = 150;
  l.regular(11, GREY).doc.text('Retrace 再生资源交易数据平台 · 增值税管理外部参考数据', l.left, doc.y, {
    width: l.width,
    align: 'center',
  });
  doc.moveDown(1.5);
  l.bold(24).doc.text(PDF_HEADINGS.title, { width: l.width, align: 'center' });
  l.regular(14, GREY).doc.text('Monthly anomaly report — recycling sector', {
    width: l.width,
    align: 'center',
  });
  doc.moveDown(2);
  l.bold(18).doc.text(`${content.division.name_zh}（${content.division.code}）`, {
    width: l.width,
    align: 'center',
  });
  l.regular(12, GREY).doc.text(content.division.name_en, { width: l.width, align: 'center' });
  doc.moveDown(0.8);
  const [py, pm] = content.period.split('-');
  l.bold(16).doc.text(`${py}年${Number(pm)}月  ·  ${content.period}`, { width: l.width, align: 'center' });
  doc.moveDown(3);
  const facts: [string, string][] = [
    ['报告编号 Report id', meta.id],
    ['期间 Window', `${content.period_start} – ${content.period_end}`],
    ['数据时钟 Data clock', meta.data_clock ?? '—（尚无数据 no data yet）'],
    ['数据版本 Data version', meta.data_version],
    ['请求方 Requested by', meta.requested_by],
    ['请求时间 Requested at', meta.requested_at],
    [
      '在册异常 Standing findings',
      `${t.findings}（严重 ${t.by_severity.critical} · 高 ${t.by_severity.high} · 中 ${t.by_severity.medium} · 低 ${t.by_severity.low}）`,
    ],
    ['涉及主体 Parties', String(t.parties)],
    ['本月交易 Trades of the month', `${fc.trades} · ¥${fc.amount}`],
  ];
  for (const [k, v] of facts) {
    const y = doc.y;
    l.bold(9.5).doc.text(k, l.left + 40, y, { width: 160 });
    const h1 = doc.y - y;
    l.regular(9.5).doc.text(clean(v), l.left + 200, y, { width: l.width - 240 });
    doc.y = Math.max(doc.y, y + h1) + 4;
  }
  doc.moveDown(1);
  l.regular(7.5, GREY).doc.text(
    `规则版本 Rule versions: ${Object.entries(content.rule_versions)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([r, v]) => `${r} v${v}`)
      .join(' · ')}`,
    l.left + 40,
    doc.y,
    { width: l.width - 80 },
  );
  doc.moveDown(2);
  l.regular(8.5, GREY).doc.text(
    '本报告由系统根据交易平台报送的数据自动生成，异常为规则命中的风险线索，需经核查确认，仅供税收管理参考。\n' +
      'Generated automatically from the records trading platforms submitted. Findings are rule hits — leads to ' +
      'verify, not conclusions — and serve as reference data for VAT management.',
    l.left + 40,
    doc.y,
    { width: l.width - 80, align: 'center' },
  );

  // --- 1. By rule and severity ---------------------------------------------------------------
  doc.addPage();
  l.heading(PDF_HEADINGS.byRule, '1. Open and confirmed findings by rule and severity');
  drawChart(l, content.by_rule);
  l.table({
    columns: [
      { header: '规则 Rule', width: 34 },
      { header: '名称 Name', width: 30 },
      { header: '严重 Critical', width: 11, align: 'right' },
      { header: '高 High', width: 11, align: 'right' },
      { header: '中 Medium', width: 11, align: 'right' },
      { header: '低 Low', width: 11, align: 'right' },
      { header: '合计 Total', width: 11, align: 'right' },
    ],
    rows: [
      ...content.by_rule.map((r) => [
        r.rule,
        r.name_zh,
        String(r.critical),
        String(r.high),
        String(r.medium),
        String(r.low),
        String(r.total),
      ]),
      [
        '合计 Total',
        '',
        String(t.by_severity.critical),
        String(t.by_severity.high),
        String(t.by_severity.medium),
        String(t.by_severity.low),
        String(t.findings),
      ],
    ],
  });
  l.paragraph(
    `另有已排除 ${t.dismissed} 条、已关闭 ${t.closed} 条（不计入上表）。 ` +
      `${t.dismissed} dismissed and ${t.closed} closed findings are not counted above.`,
    8.5,
    GREY,
  );

  // --- 2. Parties ----------------------------------------------------------------------------
  const byFindings: Table = {
    title: '异常最多的主体 Top parties by findings',
    columns: [
      { header: '#', width: 5, align: 'right' },
      { header: '名称 Name', width: 30 },
      { header: '主体 Party key', width: 30 },
      { header: '区划 Division', width: 12 },
      { header: '异常数 Findings', width: 14, align: 'right' },
      { header: '严/高/中/低 C/H/M/L', width: 15, align: 'right' },
      { header: '规则 Rules', width: 31 },
    ],
    rows: content.top_parties_by_findings.map((p) => [
      String(p.rank),
      p.name,
      p.party_key,
      p.division,
      String(p.findings),
      `${p.critical}/${p.high}/${p.medium}/${p.low}`,
      p.rules.join(' '),
    ]),
  };
  const byUnsourced: Table = {
    title: '无来源数量最多的企业 Top parties by unsourced quantity',
    columns: [
      { header: '#', width: 5, align: 'right' },
      { header: '名称 Name', width: 30 },
      { header: '主体 Party key', width: 30 },
      { header: '区划 Division', width: 12 },
      { header: '无来源 Unsourced kg', width: 18, align: 'right' },
      { header: '销售 Sold kg', width: 18, align: 'right' },
      { header: '占比 Share', width: 11, align: 'right' },
    ],
    rows: content.top_parties_by_unsourced.map((p) => [
      String(p.rank),
      p.name,
      p.party_key,
      p.division,
      p.unsourced_kg,
      p.sold_kg,
      pct(p.unsourced_share),
    ]),
  };
  l.heading(
    PDF_HEADINGS.parties,
    '2. Top parties by findings, and by unsourced quantity',
    l.tableStart(byFindings),
  );
  l.table(byFindings);
  l.table(byUnsourced);

  // --- 3. Coverage ---------------------------------------------------------------------------
  const coverage: Table = {
    columns: [
      { header: '流 Flow', width: 24 },
      { header: '交易数 Of trades', width: 16, align: 'right' },
      { header: '金额 Of amount (CNY)', width: 22, align: 'right' },
      { header: '匹配 Matched', width: 14, align: 'right' },
      { header: '笔数占比 By count', width: 16, align: 'right' },
      { header: '金额占比 By amount', width: 16, align: 'right' },
    ],
    rows: [
      [
        '资金流 Payment',
        String(fc.trades),
        fc.amount,
        String(fc.payment.matched_trades),
        pct(fc.payment.trade_ratio),
        pct(fc.payment.amount_ratio),
      ],
      [
        '货物流 Weighing',
        String(fc.trades),
        fc.amount,
        String(fc.weighing.matched_trades),
        pct(fc.weighing.trade_ratio),
        pct(fc.weighing.amount_ratio),
      ],
      [
        '发票流 Invoice',
        String(fc.invoice.expected_trades),
        fc.invoice.expected_amount,
        String(fc.invoice.matched_trades),
        pct(fc.invoice.trade_ratio),
        pct(fc.invoice.amount_ratio),
      ],
    ],
  };
  l.heading(
    PDF_HEADINGS.coverage,
    "3. Flow coverage of the month's trades (seller or buyer in the division)",
    l.tableStart(coverage),
  );
  l.table(coverage);
  l.paragraph(
    `总体状态 Overall: 已核对 reconciled ${fc.overall.reconciled} · 待定 pending ${fc.overall.pending} · ` +
      `有差异 discrepant ${fc.overall.discrepant} · 未计算 not computed ${fc.overall.not_computed}。` +
      '发票流仅计应开票的交易（企业卖方或反向开票）。 Invoices count over the trades that expect one.',
    8.5,
    GREY,
  );

  // --- 4. Findings ---------------------------------------------------------------------------
  l.heading(PDF_HEADINGS.findings, `4. Open and confirmed findings (${content.findings.length})`);
  if (content.findings.length === 0) l.paragraph('无 None', 9, GREY);
  for (const f of content.findings) {
    const head = `#${f.id}  ${SEVERITY_LABELS[f.severity].zh} ${f.severity} · ${f.rule} ${f.rule_name_zh} · ${
      STATUS_LABELS[f.status]?.zh ?? ''
    } ${f.status}`;
    const shown = f.trades.slice(0, 8);
    const party =
      `主体 Party: ${f.party_name}（${f.party_key}）· 区划 ${f.division}` +
      (shown.length > 0
        ? ` · 交易 Trades: ${shown.join(', ')}${f.trades.length > shown.length ? ` … +${f.trades.length - shown.length}` : ''}`
        : '');
    const w = l.width - 10;
    l.bold(9);
    let h = doc.heightOfString(clean(head), { width: w });
    l.regular(8);
    h += doc.heightOfString(clean(party), { width: w });
    l.regular(9);
    h +=
      doc.heightOfString(clean(f.summary_zh), { width: w }) +
      doc.heightOfString(clean(f.summary_en), { width: w });
    l.ensure(h + 10);
    const y = doc.y;
    doc.rect(l.left, y + 1, 3, h).fill(SEVERITY_COLORS[f.severity]);
    l.bold(9).doc.text(clean(head), l.left + 10, y, { width: w });
    l.regular(8, GREY).doc.text(clean(party), l.left + 10, doc.y, { width: w });
    l.regular(9).doc.text(clean(f.summary_zh), l.left + 10, doc.y, { width: w });
    l.regular(9, '#333333').doc.text(clean(f.summary_en), l.left + 10, doc.y, { width: w });
    doc.x = l.left;
    doc.y += 8;
  }

  // --- Footers -------------------------------------------------------------------------------
  const range = doc.bufferedPageRange();
  for (let i = range.start; i < range.start + range.count; i++) {
    doc.switchToPage(i);
    // Writing below the bottom margin would start a new page: lift it for the footer.
    const bottom = doc.page.margins.bottom;
    doc.page.margins.bottom = 0;
    l.regular(7.5, GREY).doc.text(
      `Retrace · ${content.division.code} ${content.division.name_zh} · ${content.period} · 报告 ${meta.id} · 第 ${i + 1} / ${range.count} 页`,
      doc.page.margins.left,
      doc.page.height - 36,
      { width: l.width, align: 'center', lineBreak: false },
    );
    doc.page.margins.bottom = bottom;
  }
  doc.end();
  await ended;
  return Buffer.concat(chunks);
}
