import type { TestContext } from './context';

/**
 * A finding stored as the rule engine would store it, for tests that need one without running the
 * rules (period 2026-10; summary and evidence placeholders).
 */
export async function storeFinding(
  ctx: TestContext,
  f: {
    partyKey: string;
    rule: string;
    severity: string;
    division: string;
    dedupeKey?: string;
    trades?: { platform: string; trade_id: string }[];
  },
): Promise<void> {
  await ctx.rt.db
    .insertInto('anomalies')
    .values({
      rule: f.rule,
      dedupe_key: f.dedupeKey ?? '2026-10|test',
      rule_version: 1,
      severity: f.severity,
      party_key: f.partyKey,
      division: f.division,
      period: '2026-10',
      trades: JSON.stringify((f.trades ?? []).map((t) => ({ id: null, ...t }))),
      documents: '[]',
      summary_zh: '测试',
      summary_en: 'test',
      evidence: '{}',
      fingerprint: 'test',
    })
    .execute();
}
