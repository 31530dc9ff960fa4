import { createRequire } from 'node:module';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RULE_CODES } from '../../src/domain/rules/types';
import type { MonthlyAnomaliesContent } from '../../src/reports/monthly-anomalies';
import { PDF_HEADINGS } from '../../src/reports/render-pdf';
import { BY_RULE_HEADER_ROW, XLSX_SHEETS } from '../../src/reports/render-xlsx';
import { renderReport, requestReport } from '../../src/reports/report.service';
import {
  findReportContent,
  findReportFile,
  type ReportFormat,
} from '../../src/repositories/reports.repository';
import { push } from '../api/query-app';
import { createTestContext, type TestContext } from '../support/context';
import { enterprise, envelope, person, tradeOf } from '../support/factories';
import { csvSections, pdfText } from './report-files';
import { A, B, C, loadWorkedData, type WorkedData } from './worked-data';

/**
 * The monthly_anomalies report of the worked data set (./worked-data.ts) for 440703 (Pengjiang),
 * 440705 (Xinhui) and 440700 (all of Jiangmen), October 2026: every figure by hand, then the three
 * files read back as a recipient would.
 */
let ctx: TestContext;
let w: WorkedData;
const reports: Record<string, { id: bigint; content: MonthlyAnomaliesContent }> = {};

async function produce(division: string) {
  const { report } = await requestReport(ctx.rt.db, {
    kind: 'monthly_anomalies',
    division,
    period: '2026-10',
    requestedBy: 'cli',
  });
  expect(await renderReport({ db: ctx.rt.db }, report.id, { finalAttempt: true })).toBe('done');
  const content = (await findReportContent(ctx.rt.db, report.id)) as MonthlyAnomaliesContent;
  reports[division] = { id: report.id, content };
}

const file = async (division: string, format: ReportFormat) =>
  (await findReportFile(ctx.rt.db, reports[division]!.id, format))!;

beforeAll(async () => {
  ctx = await createTestContext();
  w = await loadWorkedData(ctx);
  for (const d of ['440703', '440705', '440700']) await produce(d);
}, 120_000);
afterAll(async () => ctx.close());

describe('content', () => {
  it('440703: findings by status, severity and rule; other periods, districts, dismissed and closed left out', () => {
    const c = reports['440703']!.content;
    expect(c.division).toEqual({ code: '440703', name_zh: '蓬江区', name_en: 'Pengjiang District' });
    expect(c.period_start).toBe('2026-10-01T00:00:00+08:00');
    expect(c.period_end).toBe('2026-11-01T00:00:00+08:00');
    // f1–f4 stand (f2 confirmed); f5 dismissed; f6 is Xinhui's, f7 Jianghai's, f8 September's.
    expect(c.totals).toEqual({
      findings: 4,
      open: 3,
      confirmed: 1,
      dismissed: 1,
      closed: 0,
      parties: 2,
      by_severity: { critical: 1, high: 1, medium: 2, low: 0 },
    });
    // Every rule, in DOMAIN.md order, zeros included: the same table every month.
    expect(c.by_rule.map((r) => r.rule)).toEqual([...RULE_CODES]);
    const nonZero = c.by_rule
      .filter((r) => r.total > 0)
      .map((r) => [r.rule, r.critical, r.high, r.medium, r.low]);
    expect(nonZero).toEqual([
      ['MISSING_FLOW', 0, 0, 1, 0],
      ['FUNDS_ROUND_TRIP', 1, 0, 0, 0],
      ['UNSOURCED_SALE', 0, 1, 0, 0],
      ['PRICE_DEVIATION', 0, 0, 1, 0],
    ]);
    expect(c.rule_versions.UNSOURCED_SALE).toBe(1);
    expect(Object.keys(c.rule_versions)).toHaveLength(RULE_CODES.length);
  });

  it('lists the standing findings most severe first, then in rule order, with both summaries and evidence', () => {
    const f = reports['440703']!.content.findings;
    expect(f.map((x) => x.id)).toEqual([w.findings.f1, w.findings.f2, w.findings.f3, w.findings.f4]);
    expect(f[0]).toMatchObject({
      rule: 'FUNDS_ROUND_TRIP',
      rule_name_zh: '资金回流',
      severity: 'critical',
      status: 'open',
      party_key: A.uscc,
      party_name: '蓬江绿源再生资源回收站',
      party_kind: 'enterprise',
      trades: [`${w.platform.code}:T2`],
      trade_ids: [w.tradeIds.T2],
      summary_zh: 'f1：FUNDS_ROUND_TRIP 的中文摘要，涉及 T2',
      summary_en: 'f1: English summary of FUNDS_ROUND_TRIP, trades T2',
      evidence: { finding: 'f1', amount: '1234.56' },
    });
    expect(f[1]).toMatchObject({
      status: 'confirmed',
      reviewed_by: 'sup.li',
      reviewed_at: '2026-11-02T11:00:00+08:00',
    });
    expect(f[3]).toMatchObject({ party_key: w.pKey, party_name: '张三', party_kind: 'natural_person' });
  });

  it('ranks parties by findings (ties: more severe first) and enterprises by unsourced quantity', () => {
    const all = reports['440700']!.content;
    // A 3 findings; C and P one each — C's is high, P's medium.
    expect(all.top_parties_by_findings.map((p) => [p.rank, p.party_key, p.findings, p.rules])).toEqual([
      [1, A.uscc, 3, ['MISSING_FLOW', 'FUNDS_ROUND_TRIP', 'UNSOURCED_SALE']],
      [2, C.uscc, 1, ['UNSOURCED_SALE']],
      [3, w.pKey, 1, ['PRICE_DEVIATION']],
    ]);
    // A: 17,655 of 30,000 kg; C: 5,000 of 5,000. P (a natural person, 12,345 kg unsourced) never
    // appears; B sold only in November.
    expect(all.top_parties_by_unsourced).toEqual([
      {
        rank: 1,
        party_key: A.uscc,
        name: '蓬江绿源再生资源回收站',
        division: '440703',
        unsourced_kg: '17655.000',
        sold_kg: '30000.000',
        unsourced_share: '0.5885',
        materials: ['FE_HEAVY'],
      },
      {
        rank: 2,
        party_key: C.uscc,
        name: '新会再生资源有限公司',
        division: '440705',
        unsourced_kg: '5000.000',
        sold_kg: '5000.000',
        unsourced_share: '1.0000',
        materials: ['FE_HEAVY'],
      },
    ]);
    expect(reports['440703']!.content.top_parties_by_unsourced.map((p) => p.party_key)).toEqual([A.uscc]);
    expect(reports['440705']!.content.top_parties_by_unsourced.map((p) => p.party_key)).toEqual([C.uscc]);
    // All of Jiangmen: f1, f2, f6 (high, C) ordered by party key after f2, then f3, f4.
    expect(all.findings.map((f) => f.id)).toEqual([
      w.findings.f1,
      w.findings.f2,
      w.findings.f6,
      w.findings.f3,
      w.findings.f4,
    ]);
    expect(all.totals).toMatchObject({
      findings: 5,
      open: 4,
      confirmed: 1,
      dismissed: 1,
      closed: 1,
      parties: 3,
    });
    expect(B.uscc).not.toBe(A.uscc);
  });

  it('flow coverage: the month’s active trades with seller or buyer in the division', () => {
    // 440703: T1 (P→A), T2 (A→B), T4 (A→B); T6 cancelled, T3 is C→B, T5 is November.
    //   amount 27,159 + 24,000 + 46,000 = 97,159.00
    //   paid: all three; weighed: T1, T2 → 51,159 / 97,159 = 0.52654… → 0.5265
    //   invoice expected on all three (reverse-invoiced T1; enterprise seller T2, T4), matched T2 only:
    //   24,000 / 97,159 = 0.24702… → 0.2470
    expect(reports['440703']!.content.flow_coverage).toEqual({
      trades: 3,
      amount: '97159.00',
      payment: { matched_trades: 3, trade_ratio: '1.0000', amount_ratio: '1.0000' },
      weighing: { matched_trades: 2, trade_ratio: '0.6667', amount_ratio: '0.5265' },
      invoice: {
        matched_trades: 1,
        trade_ratio: '0.3333',
        amount_ratio: '0.2470',
        expected_trades: 3,
        expected_amount: '97159.00',
      },
      overall: { reconciled: 1, pending: 2, discrepant: 0, not_computed: 0 },
    });
    // 440705: T3 only (T5 is November) — nothing matched.
    expect(reports['440705']!.content.flow_coverage).toMatchObject({
      trades: 1,
      amount: '12000.00',
      payment: { matched_trades: 0, trade_ratio: '0.0000', amount_ratio: '0.0000' },
      invoice: { matched_trades: 0, expected_trades: 1 },
    });
    // 440700: T1–T4, 109,159.00; paid 97,159 → 0.8901.
    expect(reports['440700']!.content.flow_coverage).toMatchObject({
      trades: 4,
      amount: '109159.00',
      payment: { matched_trades: 3, trade_ratio: '0.7500', amount_ratio: '0.8901' },
    });
  });

  it('is produced once per data version: asking again on unchanged data returns the same report', async () => {
    const again = await requestReport(ctx.rt.db, {
      kind: 'monthly_anomalies',
      division: '440703',
      period: '2026-10',
      requestedBy: 'officer:someone',
    });
    expect(again.created).toBe(false);
    expect(again.report.id).toBe(reports['440703']!.id);
    expect(again.report.requested_by).toBe('cli');
    expect(again.report.data_version).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('files', () => {
  it('stores each file with its SHA-256 and size', async () => {
    for (const format of ['csv', 'xlsx', 'pdf'] as const) {
      const f = await file('440703', format);
      const { createHash } = await import('node:crypto');
      expect(f.sha256).toBe(createHash('sha256').update(f.data).digest('hex'));
      expect(f.size_bytes).toBe(f.data.length);
      expect(f.file_name).toBe(`monthly_anomalies-440703-2026-10-${reports['440703']!.id}.${format}`);
    }
  });

  it('CSV: UTF-8 with a BOM, sections that parse back to the same figures', async () => {
    const f = await file('440703', 'csv');
    expect([...f.data.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(f.content_type).toBe('text/csv; charset=utf-8');
    const text = f.data.toString('utf8').slice(1);
    expect(text).not.toContain('\uFFFD');
    const s = csvSections(text);
    expect(Object.keys(s)).toEqual([
      'summary',
      'by_rule',
      'top_parties_by_findings',
      'top_parties_by_unsourced',
      'flow_coverage',
      'findings',
    ]);
    const summary = Object.fromEntries(s.summary!.map((r) => [r.field, r.value]));
    expect(summary).toMatchObject({
      division: '440703',
      division_name_zh: '蓬江区',
      period: '2026-10',
      findings: '4',
      dismissed: '1',
      critical: '1',
      amount: '97159.00',
    });
    const byRule = s.by_rule!.find((r) => r.rule === 'FUNDS_ROUND_TRIP')!;
    expect(byRule).toMatchObject({ rule_name_zh: '资金回流', critical: '1', total: '1' });
    expect(s.by_rule).toHaveLength(RULE_CODES.length);
    expect(s.top_parties_by_unsourced).toEqual([
      {
        rank: '1',
        party_key: A.uscc,
        name: '蓬江绿源再生资源回收站',
        division: '440703',
        unsourced_kg: '17655.000',
        sold_kg: '30000.000',
        unsourced_share: '0.5885',
        materials: 'FE_HEAVY',
      },
    ]);
    expect(s.flow_coverage!.find((r) => r.flow === 'weighing')).toEqual({
      flow: 'weighing',
      of_trades: '3',
      of_amount: '97159.00',
      matched_trades: '2',
      trade_ratio: '0.6667',
      amount_ratio: '0.5265',
    });
    expect(s.findings!.map((r) => r.id)).toEqual([
      w.findings.f1,
      w.findings.f2,
      w.findings.f3,
      w.findings.f4,
    ]);
    expect(s.findings![0]).toMatchObject({
      summary_zh: 'f1：FUNDS_ROUND_TRIP 的中文摘要，涉及 T2',
      evidence: '{"amount":"1234.56","finding":"f1"}',
      severity_zh: '严重',
    });
  });

  it('XLSX: parses back with exceljs to the same numbers; the findings sheet has an autofilter', async () => {
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load((await file('440700', 'xlsx')).data as unknown as ArrayBuffer);
    const c = reports['440700']!.content;
    const summary = wb.getWorksheet(XLSX_SHEETS.summary)!;
    // The chart-ready table: header, then one row per rule.
    expect(summary.getRow(BY_RULE_HEADER_ROW).getCell(7).value).toBe('合计 Total');
    for (const [i, r] of c.by_rule.entries()) {
      const row = summary.getRow(BY_RULE_HEADER_ROW + 1 + i);
      expect([1, 3, 4, 5, 6, 7].map((k) => row.getCell(k).value)).toEqual([
        r.rule,
        r.critical,
        r.high,
        r.medium,
        r.low,
        r.total,
      ]);
    }
    const unsourced = summary.getRow(BY_RULE_HEADER_ROW + 1 + RULE_CODES.indexOf('UNSOURCED_SALE'));
    expect(unsourced.getCell(4).value).toBe(2);

    const parties = wb.getWorksheet(XLSX_SHEETS.parties)!;
    const values: unknown[][] = [];
    parties.eachRow((row) => values.push((row.values as unknown[]).slice(1)));
    expect(values).toContainEqual([
      1,
      A.uscc,
      '蓬江绿源再生资源回收站',
      '440703',
      17655,
      30000,
      0.5885,
      'FE_HEAVY',
    ]);
    expect(values).toContainEqual([2, C.uscc, '新会再生资源有限公司', '440705', 5000, 5000, 1, 'FE_HEAVY']);

    const coverage = wb.getWorksheet(XLSX_SHEETS.coverage)!;
    expect((coverage.getRow(3).values as unknown[]).slice(1)).toEqual([
      '资金流 payment',
      4,
      109159,
      3,
      0.75,
      0.8901,
    ]);

    const findings = wb.getWorksheet(XLSX_SHEETS.findings)!;
    expect(findings.autoFilter).toBeTruthy();
    expect(findings.rowCount).toBe(1 + c.findings.length);
    expect(findings.getRow(2).getCell(1).value).toBe(Number(w.findings.f1));
    expect(findings.getRow(2).getCell(10).value).toBe('f1：FUNDS_ROUND_TRIP 的中文摘要，涉及 T2');
    expect(findings.views[0]).toMatchObject({ state: 'frozen', ySplit: 1 });
  });

  it('PDF: Chinese headings, names and summaries in the text layer, with the CJK font embedded', async () => {
    const f = await file('440703', 'pdf');
    expect(f.data.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    // Embedded (FontFile2: TrueType program) and subset (ABCDEF+ prefix) Noto Sans SC.
    const raw = f.data.toString('latin1');
    expect(raw).toMatch(/\/BaseFont \/[A-Z]{6}\+NotoSansSC-Regular/);
    expect(raw).toContain('/FontFile2');
    const { pages, text } = await pdfText(f.data);
    expect(pages).toBeGreaterThanOrEqual(3);
    for (const heading of Object.values(PDF_HEADINGS)) expect(text).toContain(heading);
    expect(text).toContain('蓬江区');
    expect(text).toContain('蓬江绿源再生资源回收站');
    expect(text).toContain('f1：FUNDS_ROUND_TRIP 的中文摘要，涉及 T2');
    expect(text).toContain('资金回流');
  }, 60_000);

  it('never tofu: the embedded font has a glyph for every character the reports show', async () => {
    const fontkit = createRequire(import.meta.url)('fontkit') as {
      create: (b: Buffer) => { hasGlyphForCodePoint: (cp: number) => boolean };
    };
    const { cjkFont } = await import('../../src/reports/fonts');
    const fonts = [fontkit.create(cjkFont('regular')), fontkit.create(cjkFont('bold'))];
    const text =
      JSON.stringify(Object.values(reports).map((r) => r.content)) + Object.values(PDF_HEADINGS).join('');
    const missing = new Set<string>();
    for (const ch of text) {
      const cp = ch.codePointAt(0)!;
      if (cp < 0x20) continue;
      for (const font of fonts) if (!font.hasGlyphForCodePoint(cp)) missing.add(ch);
    }
    expect([...missing]).toEqual([]);
  });
});

describe('unsourced ranking', () => {
  it('ranks only trading enterprises: a generator’s or an unregistered enterprise’s own scrap is an origin', async () => {
    // Heshan (440784), August 2026: nothing else of the worked data is there.
    const p = await ctx.addPlatform();
    const G = enterprise('鹤山五金制品厂', '440784'); // generator: sells its own scrap
    const U = enterprise('鹤山某贸易公司', '440784'); // registered nowhere: counted as generating
    const R = enterprise('鹤山再生资源回收站', '440784'); // recycler: 1,000 kg bought, 1,500 sold
    const mill = enterprise('鹤山钢铁有限公司', '440784');
    const registered = (e: typeof G, roles: string[]) =>
      envelope('party.registered', {
        uscc: e.uscc,
        name: e.name,
        division: '440784',
        taxpayer_kind: 'general',
        established_on: '2015-03-01',
        roles,
      });
    const at = (day: number) => `2026-08-${String(day).padStart(2, '0')}T10:00:00+08:00`;
    await push(
      ctx,
      p,
      registered(G, ['generator']),
      registered(R, ['recycler']),
      registered(mill, ['utilizer']),
      tradeOf('H1', person('李四', '440784'), R, at(3), [['FE_HEAVY', '1000', '2.20', '2200.00']]),
      tradeOf('H2', R, mill, at(5), [['FE_HEAVY', '1500', '2.40', '3600.00']]),
      tradeOf('H3', G, mill, at(6), [['FE_HEAVY', '3000', '2.40', '7200.00']]),
      tradeOf('H4', U, mill, at(7), [['FE_HEAVY', '2000', '2.40', '4800.00']]),
    );
    const { report } = await requestReport(ctx.rt.db, {
      kind: 'monthly_anomalies',
      division: '440784',
      period: '2026-08',
      requestedBy: 'cli',
    });
    expect(await renderReport({ db: ctx.rt.db }, report.id, { finalAttempt: true })).toBe('done');
    const content = (await findReportContent(ctx.rt.db, report.id)) as MonthlyAnomaliesContent;
    expect(
      content.top_parties_by_unsourced.map((x) => [x.party_key, x.unsourced_kg, x.unsourced_share]),
    ).toEqual([[R.uscc, '500.000', '0.3333']]);
  });
});
