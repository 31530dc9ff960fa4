/**
 * Full rule replay (issue target: evaluatePeriod over every period of three months of data at
 * simulator scale 10 in < 2 minutes).
 *
 *   npx tsx bench/rules.ts [--scale 10] [--months 3] [--prepare-timeout 1800] [--keep]
 *   npx tsx bench/rules.ts --database postgres://…/retrace_bench_…   (reuse a --keep database)
 *
 * Preparation (skipped with --database): the simulator's data set (seed 1) is pushed as signed
 * NDJSON batches to `serve api`, and two worker processes (WORKER_QUEUES=events,streams,reports:
 * no rules queue) normalise, reconcile and allocate it. Then, in this process:
 * 1. replay: evaluatePeriod for every month that has trades, in order (as `rules replay` does),
 *    first on an empty findings table (every finding new), then again (nothing changes);
 * 2. where the time goes: loadPeriodFacts and each rule's evaluate, timed apart per period.
 */
import { sql } from 'kysely';
import type { RuleCode } from '../src/domain/rules/types';
import { loadPeriodFacts } from '../src/repositories/rule-facts.repository';
import { evaluatePeriod } from '../src/rules/engine';
import { RULES } from '../src/rules/registry';
import { eventPool, postBatch } from './events';
import {
  type BenchEnv,
  type Child,
  flags,
  freePort,
  intFlag,
  machineInfo,
  openBenchEnv,
  progress,
  report,
  round,
  runBench,
  selfPeakRssMiB,
  sleep,
  startApi,
  startWorker,
  table,
} from './support';

const f = flags(
  {
    scale: { type: 'string', default: '10' },
    months: { type: 'string', default: '3' },
    'prepare-timeout': { type: 'string', default: '1800' },
    database: { type: 'string' },
  },
  'npx tsx bench/rules.ts [--scale N] [--months N] [--prepare-timeout S] [--database URL] [--keep]',
);
const scale = intFlag(f.scale, 'scale', 0.1, 50);
const months = intFlag(f.months, 'months', 1, 24);
const prepareTimeout = intFlag(f['prepare-timeout'], 'prepare-timeout', 10, 24 * 3600);
const PLATFORM = 'bench';

let env: BenchEnv | null = null;
const children: Child[] = [];

async function prepare(e: BenchEnv): Promise<Record<string, unknown>> {
  const platform = await e.addPlatform(PLATFORM);
  const events = eventPool(PLATFORM, 1, { scale, months });
  const port = await freePort();
  const api = await startApi(e, port);
  children.push(api);
  const t0 = performance.now();
  for (let b = 0; b * 10_000 < events.length; b++) {
    const r = await postBatch(
      `http://127.0.0.1:${port}`,
      PLATFORM,
      platform.secret,
      `rules-${b}`,
      events.slice(b * 10_000, (b + 1) * 10_000),
    );
    progress(`prepare: batch ${b + 1} (${r.accepted} accepted)`);
  }
  const ingestS = (performance.now() - t0) / 1000;
  const workers = await Promise.all(
    [1, 2].map((i) => startWorker(e, `worker-${i}`, { WORKER_QUEUES: 'events,streams,reports' })),
  );
  children.push(...workers);
  const d0 = performance.now();
  for (;;) {
    const r = await sql<{ pending: number; streams: number }>`
      SELECT (SELECT count(*) FROM inbound_events WHERE state = 'pending')::int AS pending,
             (SELECT count(*) FROM stream_dirty)::int AS streams`.execute(e.rt.db);
    const b = r.rows[0]!;
    if (b.pending === 0 && b.streams === 0) break;
    if ((performance.now() - d0) / 1000 > prepareTimeout)
      throw new Error(`processing did not finish: ${JSON.stringify(b)}`);
    if (Math.round((performance.now() - d0) / 1000) % 15 === 0) progress(`prepare: ${JSON.stringify(b)}`);
    await sleep(1000);
  }
  const processS = (performance.now() - d0) / 1000;
  for (const c of children.splice(0)) await c.stop();
  return { events: events.length, ingest_s: round(ingestS, 1), process_s: round(processS, 1) };
}

async function replay(e: BenchEnv, periods: string[]) {
  const per: {
    period: string;
    seconds: number;
    detected: number;
    updated: number;
    closed: number;
    unchanged: number;
  }[] = [];
  const t0 = performance.now();
  for (const p of periods) {
    const t = performance.now();
    const r = await evaluatePeriod(e.rt.db, e.rt.keyring, p, { actor: 'replay' });
    per.push({
      period: p,
      seconds: round((performance.now() - t) / 1000, 2),
      detected: r.detected,
      updated: r.updated,
      closed: r.closed,
      unchanged: r.unchanged,
    });
    progress(
      `replay ${p}: ${round((performance.now() - t) / 1000, 2)} s (${r.detected} detected, ${r.unchanged} unchanged)`,
    );
  }
  return { seconds: round((performance.now() - t0) / 1000, 2), periods: per };
}

async function main(): Promise<void> {
  env = await openBenchEnv('rules', f.database ? { existingUrl: f.database } : {});
  const prepared = f.database ? { reused: env.databaseUrl } : await prepare(env);
  const e = env;
  const counts = await sql<{ trades: number; events: number; anomalies: number }>`
    SELECT (SELECT count(*) FROM trades)::int AS trades, (SELECT count(*) FROM inbound_events)::int AS events,
           (SELECT count(*) FROM anomalies)::int AS anomalies`.execute(e.rt.db);
  const periodRows = await sql<{ period: string }>`
    SELECT DISTINCT to_char(occurred_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS period FROM trades ORDER BY 1`.execute(
    e.rt.db,
  );
  const periods = periodRows.rows.map((r) => r.period);
  progress(`replaying ${periods.join(', ')}`);
  const first = await replay(e, periods);
  const second = await replay(e, periods);

  // Where the time goes, per period: the facts, then each rule on them.
  const profile: Record<string, unknown>[] = [];
  for (const p of periods) {
    const t = performance.now();
    const facts = await loadPeriodFacts(e.rt.db, e.rt.keyring, p);
    const factsMs = performance.now() - t;
    const rules: Record<string, number> = {};
    for (const code of Object.keys(RULES) as RuleCode[]) {
      const entry = RULES[code];
      const params = entry.schema.parse(entry.defaults);
      const r0 = performance.now();
      entry.evaluate(facts, params as never);
      rules[code] = round(performance.now() - r0, 1);
    }
    const rulesMs = Object.values(rules).reduce((a, b) => a + b, 0);
    const slowest = Object.entries(rules)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 4);
    profile.push({
      period: p,
      load_facts_ms: round(factsMs, 0),
      rules_ms: round(rulesMs, 0),
      slowest_rules_ms: Object.fromEntries(slowest),
      facts: {
        trades: facts.trades.length,
        payments: facts.payments.length,
        weighings: facts.weighings.length,
        invoices: facts.invoices.length,
        allocations: facts.allocations.length,
      },
    });
    progress(`profile ${p}: facts ${round(factsMs, 0)} ms, rules ${round(rulesMs, 0)} ms`);
  }

  const figures = {
    benchmark: 'rules',
    machine: machineInfo(),
    parameters: { scale, months, seed: 1 },
    data: { ...prepared, ...counts.rows[0]! },
    replay_first: first,
    replay_again: second,
    profile,
    bench_peak_rss_mib: selfPeakRssMiB(),
    targets: { replay_lt_120s: first.seconds < 120 },
  };
  report(
    `Rule replay (scale ${scale}, ${months} months: ${periods.length} periods)`,
    table([
      ['period', 'first replay s', 'detected', 'again s', 'facts ms', 'rules ms'],
      ...periods.map((p, i) => [
        p,
        first.periods[i]!.seconds,
        first.periods[i]!.detected,
        second.periods[i]!.seconds,
        (profile[i] as { load_facts_ms: number }).load_facts_ms,
        (profile[i] as { rules_ms: number }).rules_ms,
      ]),
      ['total', first.seconds, first.periods.reduce((a, r) => a + r.detected, 0), second.seconds, '', ''],
    ]) + `\n\nfull replay ${first.seconds} s (target < 120 s: ${first.seconds < 120 ? 'met' : 'NOT met'})`,
    figures,
  );
}

await runBench(main, async () => {
  for (const c of children) await c.stop();
  await env?.close({ keep: f.keep });
});
