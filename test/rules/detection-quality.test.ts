import { afterAll, beforeAll, expect, it } from 'vitest';
import { RULE_CODES } from '../../src/domain/rules/types';
import { generateDataset, type PlantedCase } from '../../src/simulate/generator';
import { createTestContext, type TestContext } from '../support/context';
import { drain } from '../support/pipeline';

/**
 * Detection quality (issue: anomaly engine): the simulator's data set goes through the real
 * pipeline — signed NDJSON ingestion, processing, allocation, rule evaluation — and the findings
 * are compared with the planted cases. Recall per rule: planted cases found. Precision per rule:
 * findings that belong to a planted case (its rule or a rule it truly also breaks). The clean
 * background must produce no finding at all.
 */
let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => ctx.close());

interface StoredFinding {
  id: bigint;
  rule: string;
  party_key: string;
  period: string;
  severity: string;
  trades: { platform: string; trade_id: string }[];
  summary_en: string;
}

it('finds every planted case and nothing on the clean background', async () => {
  const platform = await ctx.addPlatform({ rateLimit: 100_000 });
  const data = generateDataset({ seed: 7, months: 3, scale: 0.3, start: '2026-07', platform: platform.code });
  for (let i = 0; i < data.events.length; i += 1000) {
    const body = `${data.events
      .slice(i, i + 1000)
      .map((e) => JSON.stringify(e))
      .join('\n')}\n`;
    const res = await ctx.post(`/v1/ingest/${platform.code}/batches`, body, {
      secret: platform.secret,
      contentType: 'application/x-ndjson',
    });
    const out = (await res.json()) as { rejected: number; results: unknown[] };
    expect(res.status).toBe(200);
    expect(
      out.rejected,
      JSON.stringify(out.results.filter((r) => (r as { status: string }).status === 'rejected').slice(0, 3)),
    ).toBe(0);
  }
  await drain(ctx);

  const findings = (await ctx.rt.db
    .selectFrom('anomalies')
    .select(['id', 'rule', 'party_key', 'period', 'severity', 'trades', 'summary_en'])
    .where('status', '<>', 'closed')
    .execute()) as unknown as StoredFinding[];

  const partyKey = (p: string) =>
    p.startsWith('person:') ? ctx.rt.keyring.personKey(p.slice('person:'.length)) : p;
  const tradeKeys = (ts: { platform: string; trade_id: string }[]) =>
    new Set(ts.map((t) => `${t.platform}:${t.trade_id}`));
  const belongs = (f: StoredFinding, c: PlantedCase) => {
    const ct = tradeKeys(c.trades);
    const overlap = f.trades.some((t) => ct.has(`${t.platform}:${t.trade_id}`));
    const party = c.parties.map(partyKey).includes(f.party_key);
    return overlap || (party && (f.trades.length === 0 || c.trades.length === 0));
  };

  const table: Record<string, { planted: number; found: number; findings: number; attributed: number }> = {};
  for (const rule of RULE_CODES) table[rule] = { planted: 0, found: 0, findings: 0, attributed: 0 };
  const missed: PlantedCase[] = [];
  for (const c of data.planted) {
    const row = table[c.rule]!;
    row.planted++;
    if (findings.some((f) => f.rule === c.rule && belongs(f, c))) row.found++;
    else missed.push(c);
  }
  const stray: StoredFinding[] = [];
  for (const f of findings) {
    const row = table[f.rule]!;
    row.findings++;
    if (data.planted.some((c) => (c.rule === f.rule || c.also_triggers.includes(f.rule)) && belongs(f, c)))
      row.attributed++;
    else stray.push(f);
  }
  const report = Object.entries(table)
    .map(([rule, r]) => {
      const recall = r.planted ? (r.found / r.planted).toFixed(2) : 'n/a';
      const precision = r.findings ? (r.attributed / r.findings).toFixed(2) : 'n/a';
      return `${rule.padEnd(22)} planted ${r.planted} found ${r.found} recall ${recall} findings ${r.findings} precision ${precision}`;
    })
    .join('\n');
  console.log(`detection quality (seed 7, scale 0.3, 3 months, ${data.events.length} events)\n${report}`);
  expect(missed.map((c) => `${c.rule}: ${c.description}`)).toEqual([]);
  expect(stray.map((f) => `${f.rule} ${f.period} ${f.party_key}: ${f.summary_en}`)).toEqual([]);
  for (const c of data.planted) expect(table[c.rule]!.planted).toBeGreaterThan(0);
}, 300_000);
