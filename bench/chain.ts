/**
 * Chain traversal latency (issue target: p95 < 20 ms at depth 10 on ≥ 1,000,000 trades).
 *
 *   npx tsx bench/chain.ts [--trades 200000] [--roots 300] [--database URL] [--keep]
 *   full size: --trades 1000000
 *
 * Builds the synthetic graph of bench/synthetic.ts (persons → stations → sorting centres → mills,
 * one lot in five through a 12-broker ladder: chains 14 steps deep) with set-based SQL, then times
 * buildChain (src/chains/chain.service.ts, the function behind GET /v1/trades/{id}/chain) in this
 * process, one call at a time, for random roots:
 *   upstream   from purchases by mills (~210 upstream trades, up to 14 levels deep);
 *   downstream from purchases from natural persons (2–14 levels);
 *   both       from random trades (the API's default direction).
 * A second, instrumented pass counts the SQL statements per chain and the time spent in them.
 * --database reuses a database this script built earlier with --keep.
 */
import { Kysely, type LogEvent, PostgresDialect } from 'kysely';
import { buildChain, type Direction } from '../src/chains/chain.service';
import type { DB } from '../src/db/database';
import {
  type BenchEnv,
  flags,
  intFlag,
  latencySummary,
  machineInfo,
  openBenchEnv,
  progress,
  report,
  round,
  runBench,
  selfPeakRssMiB,
  table,
} from './support';
import { buildSynthetic, type SyntheticInfo, sampleTrades } from './synthetic';

const f = flags(
  {
    trades: { type: 'string', default: '200000' },
    roots: { type: 'string', default: '300' },
    depth: { type: 'string', default: '10' },
    database: { type: 'string' },
  },
  'npx tsx bench/chain.ts [--trades N] [--roots N] [--depth N] [--database URL] [--keep]',
);
const trades = intFlag(f.trades, 'trades', 1000, 20_000_000);
const roots = intFlag(f.roots, 'roots', 10, 100_000);
const depth = intFlag(f.depth, 'depth', 1, 20);

let env: BenchEnv | null = null;

async function main(): Promise<void> {
  env = await openBenchEnv('chain', f.database ? { existingUrl: f.database } : {});
  let info: SyntheticInfo | { reused: string } = { reused: env.databaseUrl };
  if (!f.database) info = await buildSynthetic(env.databaseUrl, { trades });
  const db = env.rt.db;

  const cases: { direction: Direction; kind: 'mill_purchase' | 'person_purchase' | 'any' }[] = [
    { direction: 'upstream', kind: 'mill_purchase' },
    { direction: 'downstream', kind: 'person_purchase' },
    { direction: 'both', kind: 'any' },
  ];
  const results: Record<string, unknown>[] = [];
  const all: number[] = [];
  for (const c of cases) {
    const sample = await sampleTrades(env.databaseUrl, c.kind, roots);
    // Warm-up: the same code paths and the indexes' pages, on other roots.
    for (const r of sample.slice(0, Math.min(20, sample.length)))
      await buildChain(db, r, { direction: c.direction, maxDepth: depth });
    const times: number[] = [];
    const nodes: number[] = [];
    let truncated = 0;
    for (const r of sample) {
      const t = performance.now();
      const chain = await buildChain(db, r, { direction: c.direction, maxDepth: depth });
      times.push(performance.now() - t);
      nodes.push(chain.nodes.length);
      if (chain.truncated) truncated++;
    }
    all.push(...times);
    const s = latencySummary(times);
    results.push({
      direction: c.direction,
      roots: c.kind,
      ...s,
      nodes_mean: round(nodes.reduce((a, b) => a + b, 0) / Math.max(1, nodes.length), 1),
      nodes_max: Math.max(...nodes),
      truncated,
    });
    progress(`${c.direction} from ${c.kind}: p50 ${s.p50_ms} ms, p95 ${s.p95_ms} ms`);
  }

  // Where the time goes: statements per chain and their share of the wall time.
  const queries: { sql: string; ms: number }[] = [];
  const logged = new Kysely<DB>({
    dialect: new PostgresDialect({ pool: env.rt.pool }),
    log: (e: LogEvent) => {
      if (e.level === 'query') queries.push({ sql: e.query.sql, ms: e.queryDurationMillis });
    },
  });
  const profile: Record<string, unknown>[] = [];
  for (const c of cases) {
    const sample = await sampleTrades(env.databaseUrl, c.kind, 50);
    queries.length = 0;
    let wall = 0;
    for (const r of sample) {
      const t = performance.now();
      await buildChain(logged, r, { direction: c.direction, maxDepth: depth });
      wall += performance.now() - t;
    }
    const kindOf = (s: string) =>
      s.includes('a.sale_platform = k.platform')
        ? 'edgesIntoSales'
        : s.includes('a.purchase_platform = k.platform')
          ? 'edgesFromPurchases'
          : s.includes('FROM trades t JOIN unnest')
            ? 'loadChainTrades'
            : 'other';
    const byKind: Record<string, { n: number; ms: number }> = {};
    for (const q of queries) {
      const k = kindOf(q.sql);
      byKind[k] ??= { n: 0, ms: 0 };
      byKind[k].n++;
      byKind[k].ms += q.ms;
    }
    const sqlMs = queries.reduce((a, q) => a + q.ms, 0);
    profile.push({
      direction: c.direction,
      chains: sample.length,
      statements_per_chain: round(queries.length / sample.length, 1),
      sql_share_of_wall: round(sqlMs / wall, 2),
      by_statement: Object.fromEntries(
        Object.entries(byKind).map(([k, v]) => [
          k,
          { per_chain: round(v.n / sample.length, 1), ms_per_chain: round(v.ms / sample.length, 2) },
        ]),
      ),
    });
  }

  const overall = latencySummary(all);
  const figures = {
    benchmark: 'chain',
    machine: machineInfo(),
    parameters: { trades, roots_per_case: roots, depth },
    data: info,
    cases: results,
    overall,
    profile,
    bench_peak_rss_mib: selfPeakRssMiB(),
    targets: { p95_lt_20ms: overall.p95_ms < 20 },
  };
  report(
    `Chain traversal (buildChain, depth ${depth})`,
    table([
      ['direction', 'roots', 'n', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'nodes mean/max'],
      ...results.map((r) => [
        r.direction as string,
        r.roots as string,
        r.n as number,
        r.p50_ms as number,
        r.p95_ms as number,
        r.p99_ms as number,
        r.max_ms as number,
        `${r.nodes_mean}/${r.nodes_max}`,
      ]),
      ['all', '', overall.n, overall.p50_ms, overall.p95_ms, overall.p99_ms, overall.max_ms, ''],
    ]) + `\n\np95 ${overall.p95_ms} ms (target < 20 ms: ${overall.p95_ms < 20 ? 'met' : 'NOT met'})`,
    figures,
  );
}

await runBench(main, async () => {
  await env?.close({ keep: f.keep });
});
