/**
 * Officer query API latency over HTTP (issue targets, 20 concurrent officers, ≥ 1,000,000 trades:
 * trade list and trade detail p95 < 50 ms, chain (depth 10) p95 < 20 ms, the party reference
 * sheet of a party with 10,000 trades in the month p95 < 200 ms).
 *
 *   npx tsx bench/query.ts [--trades 200000] [--duration 10] [--warmup 2] [--connections 20]
 *                          [--database URL] [--api-processes N] [--keep]
 *   full size: --trades 1000000
 *
 * Builds the synthetic data of bench/synthetic.ts, starts `retrace serve api` in a child process,
 * creates an officer (insertOfficer; role officer, divisions 440700 = all of Jiangmen) and loads
 * each endpoint in turn with autocannon from this process, every request with the officer's
 * bearer token (so authentication and the audit-log write are part of each request):
 *   list    GET /v1/trades?limit=50 — in turn: no filter; a station's trades; a county and a month
 *   detail  GET /v1/trades/{id} — random trades
 *   chain   GET /v1/trades/{id}/chain?max_depth=10 — random roots (mill purchases and any trade)
 *   sheet   GET /v1/parties/{key}/summary?period=2026-09 — the station with ~10,000 trades that month
 *   withholding  GET /v1/parties/{key}/summary/withholding?period=2026-09 — its first 50 persons
 */

import { sql } from 'kysely';
import { buildChain } from '../src/chains/chain.service';
import { periodBounds, sheetFromFacts } from '../src/domain/reference-sheet';
import { divisionFilter, officerScope } from '../src/http/auth';
import { findTradeRef, parseTradeKey } from '../src/repositories/chains.repository';
import { insertOfficer } from '../src/repositories/officers.repository';
import {
  findParty,
  loadReferenceSheetData,
  loadWithholdingPage,
} from '../src/repositories/parties-query.repository';
import {
  findTradeDetail,
  listTradeAnomalies,
  listTradeInvoices,
  listTradePayments,
  listTrades,
  listTradeVersions,
  listTradeWeighings,
} from '../src/repositories/trades-query.repository';
import { runLoad } from './load';
import {
  type BenchEnv,
  type Child,
  cpuSeconds,
  flags,
  freePort,
  intFlag,
  latencySummary,
  machineInfo,
  openBenchEnv,
  progress,
  report,
  round,
  runBench,
  selfPeakRssMiB,
  sleep,
  startApi,
  startChild,
  table,
  waitHttp,
} from './support';
import { buildSynthetic, type SyntheticInfo, sampleTrades } from './synthetic';

const f = flags(
  {
    trades: { type: 'string', default: '200000' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '20' },
    database: { type: 'string' },
    'hot-party': { type: 'string' },
    'api-pool-size': { type: 'string' },
    'api-processes': { type: 'string', default: '1' },
    only: { type: 'string' },
    'no-in-process': { type: 'boolean', default: false },
  },
  'npx tsx bench/query.ts [--trades N] [--duration S] [--warmup S] [--connections N] [--database URL --hot-party KEY] [--api-processes N] [--only list,detail,chain,sheet,withholding,gate] [--no-in-process] [--keep]',
);
const trades = intFlag(f.trades, 'trades', 1000, 20_000_000);
const duration = intFlag(f.duration, 'duration', 1, 600);
const warmup = intFlag(f.warmup, 'warmup', 0, 60);
const connections = intFlag(f.connections, 'connections', 1, 500);
const apiProcesses = intFlag(f['api-processes'], 'api-processes', 1, 64);
const ENDPOINT_NAMES = ['list', 'detail', 'chain', 'sheet', 'withholding', 'gate'];
const only = f.only === undefined ? ENDPOINT_NAMES : f.only.split(',');
for (const name of only) {
  if (!ENDPOINT_NAMES.includes(name))
    throw new Error(`--only: unknown endpoint ${name} (${ENDPOINT_NAMES.join(', ')})`);
}

let env: BenchEnv | null = null;
let api: Child | null = null;

const TARGETS: Record<string, number> = { list: 50, detail: 50, chain: 20, sheet: 200 };

/**
 * What the API's PostgreSQL connections are doing during a load, sampled every 100 ms from
 * pg_stat_activity: `active` (running a statement, with its wait event if any), `idle in
 * transaction` (waiting for the process), or idle in the pool. Mean counts per sample.
 */
function sampleWaits(e: BenchEnv): { stop: () => Promise<Record<string, number>> } {
  const counts: Record<string, number> = {};
  let samples = 0;
  let running = true;
  const dbName = new URL(e.databaseUrl).pathname.slice(1);
  const loop = (async () => {
    while (running) {
      const r = await sql<{ state: string | null; wait: string | null }>`
        SELECT state, wait_event_type || ':' || wait_event AS wait FROM pg_stat_activity
        WHERE datname = ${dbName} AND application_name = 'retrace-api'`.execute(e.rt.db);
      samples++;
      for (const row of r.rows) {
        const k =
          row.state === 'active' ? `active${row.wait ? ` (${row.wait})` : ''}` : (row.state ?? 'unknown');
        counts[k] = (counts[k] ?? 0) + 1;
      }
      await sleep(100);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return Object.fromEntries(
        Object.entries(counts)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => [k, round(v / Math.max(1, samples), 1)]),
      );
    },
  };
}

async function main(): Promise<void> {
  env = await openBenchEnv('query', f.database ? { existingUrl: f.database } : {});
  let info: SyntheticInfo | null = null;
  if (!f.database) info = await buildSynthetic(env.databaseUrl, { trades });
  const hot = info?.hotStation ?? f['hot-party'];
  if (!hot) throw new Error('--database needs --hot-party (the party of the reference sheet)');
  const stations = info?.stations_keys ?? [hot];
  const token = await insertOfficer(env.rt.db, env.rt.keyring, {
    login: `bench.officer.${process.pid}`,
    role: 'officer',
    divisions: ['440700'],
    pii: false,
  });
  if (!token) throw new Error('could not create the officer');
  const detailIds = (await sampleTrades(env.databaseUrl, 'any', 2000)).map((t) => t.id);
  const chainIds = [
    ...(await sampleTrades(env.databaseUrl, 'mill_purchase', 500)),
    ...(await sampleTrades(env.databaseUrl, 'any', 500)),
  ].map((t) => t.id);

  const port = await freePort();
  const apiEnv: Record<string, string> = f['api-pool-size'] ? { PG_POOL_SIZE: f['api-pool-size'] } : {};
  if (apiProcesses === 1) api = await startApi(env, port, apiEnv);
  else {
    // `serve api --processes N`: API CPU and peak RSS below are the primary's only.
    api = startChild('api', 'src/main.ts', ['serve', 'api', '--processes', String(apiProcesses)], {
      ...env.childEnv({ PORT: String(port), ...apiEnv }),
    });
    await waitHttp(`http://127.0.0.1:${port}/healthz`, api);
  }
  const url = `http://127.0.0.1:${port}`;
  const headers = { authorization: `Bearer ${token}` };
  let n = 0;
  const pick = <T>(xs: readonly T[]) => xs[n++ % xs.length]!;
  const months = ['2026-08', '2026-09', '2026-10'];
  const monthRange = (m: string) => {
    const [y, mm] = m.split('-').map(Number) as [number, number];
    const next = mm === 12 ? `${y + 1}-01` : `${y}-${String(mm + 1).padStart(2, '0')}`;
    return `from=${encodeURIComponent(`${m}-01T00:00:00+08:00`)}&to=${encodeURIComponent(`${next}-01T00:00:00+08:00`)}`;
  };
  const counties = ['440703', '440704', '440705', '440781', '440783', '440784', '440785'];
  const endpoints: { name: string; path: () => string }[] = [
    {
      name: 'list',
      path: () => {
        const i = n++;
        if (i % 3 === 0) return '/v1/trades?limit=50';
        if (i % 3 === 1) return `/v1/trades?party=${stations[i % stations.length]}&limit=50`;
        return `/v1/trades?division=${counties[i % counties.length]}&${monthRange(months[i % months.length]!)}&limit=50`;
      },
    },
    { name: 'detail', path: () => `/v1/trades/${pick(detailIds)}` },
    { name: 'chain', path: () => `/v1/trades/${pick(chainIds)}/chain?max_depth=10` },
    { name: 'sheet', path: () => `/v1/parties/${hot}/summary?period=2026-09` },
    // The sheet's per-person withholding rows, first page (50 persons).
    { name: 'withholding', path: () => `/v1/parties/${hot}/summary/withholding?period=2026-09` },
    // Authentication + audit write + one indexed lookup that finds nothing (404): the gate's cost.
    { name: 'gate (404)', path: () => '/v1/trades/999999999999' },
  ];

  const results: Record<string, unknown>[] = [];
  for (const ep of endpoints.filter((e) => only.includes(e.name.split(' ')[0]!))) {
    const next = () => ({ method: 'GET', path: ep.path(), headers });
    if (warmup > 0) await runLoad({ url, connections, durationSeconds: warmup, next });
    const cpu0 = cpuSeconds(api.pid) ?? 0;
    const waits = sampleWaits(env);
    const r = await runLoad({ url, connections, durationSeconds: duration, next });
    const cpu = (cpuSeconds(api.pid) ?? 0) - cpu0;
    const backends = await waits.stop();
    const target = TARGETS[ep.name] ?? Number.NaN;
    results.push({
      endpoint: ep.name,
      rps: r.rps,
      statuses: r.statuses,
      ...r.latency,
      target_p95_ms: target,
      met: r.latency.p95_ms < target,
      api_cpu_share: round(cpu / r.seconds, 2),
      // The API process's CPU time per answered request: the figure to compare across runs on a
      // busy machine, where latencies move with the neighbours' load.
      api_cpu_ms_per_request: round((cpu * 1000) / Math.max(1, r.rps * r.seconds), 2),
      api_backends: backends,
    });
    // Requests still in flight when the run ends are not counted: let the server finish them.
    await sleep(3_000);
    progress(
      `${ep.name}: ${r.rps} req/s, p50 ${r.latency.p50_ms} ms, p95 ${r.latency.p95_ms} ms ${JSON.stringify(r.statuses)}`,
    );
  }
  const apiRss = api.peakRssMiB();
  await api.stop();
  api = null;

  // Where the time goes: the same work called in this process, one request at a time, without
  // HTTP, authentication or audit (the "gate (404)" endpoint above shows that part).
  const direct: Record<string, unknown> = {};
  if (!f['no-in-process'])
    await inProcessTimings(env, direct, { stations, counties, detailIds, chainIds, hot });

  const figures = {
    benchmark: 'query',
    machine: machineInfo(),
    parameters: { trades, duration_s: duration, warmup_s: warmup, connections, api_processes: apiProcesses },
    data: info ?? { reused: env.databaseUrl, hot_party: hot },
    endpoints: results,
    in_process: direct,
    api_peak_rss_mib: apiRss,
    bench_peak_rss_mib: selfPeakRssMiB(),
    targets: Object.fromEntries(
      results
        .filter((r) => TARGETS[r.endpoint as string])
        .map((r) => [`${r.endpoint}_p95_lt_${r.target_p95_ms}ms`, r.met]),
    ),
  };
  report(
    `Officer query API (${connections} concurrent officers)`,
    table([
      [
        'endpoint',
        'req/s',
        'p50 ms',
        'p95 ms',
        'p99 ms',
        'target p95',
        'met',
        'statuses',
        'API CPU',
        'API CPU ms/req',
      ],
      ...results.map((r) => [
        r.endpoint as string,
        r.rps as number,
        r.p50_ms as number,
        r.p95_ms as number,
        r.p99_ms as number,
        Number.isNaN(r.target_p95_ms) ? '' : `< ${r.target_p95_ms} ms`,
        Number.isNaN(r.target_p95_ms) ? '' : r.met ? 'yes' : 'NO',
        JSON.stringify(r.statuses),
        r.api_cpu_share as number,
        r.api_cpu_ms_per_request as number,
      ]),
    ]) +
      '\n\nIn this process, sequential, no HTTP/auth/audit:\n' +
      table([
        ['work', 'n', 'p50 ms', 'p95 ms', 'max ms'],
        ...Object.entries(direct)
          .filter(([, v]) => (v as { p50_ms?: number }).p50_ms !== undefined)
          .map(([k, v]) => {
            const l = v as ReturnType<typeof latencySummary>;
            return [k, l.n, l.p50_ms, l.p95_ms, l.max_ms];
          }),
      ]),
    figures,
  );
}

/** The same work as the endpoints, called in this process one request at a time. */
async function inProcessTimings(
  env: BenchEnv,
  direct: Record<string, unknown>,
  s: {
    stations: readonly string[];
    counties: readonly string[];
    detailIds: readonly string[];
    chainIds: readonly string[];
    hot: string;
  },
): Promise<void> {
  progress('in-process timings (sequential)');
  const { stations, counties, detailIds, chainIds, hot } = s;
  const db = env.rt.db;
  const scope = divisionFilter(officerScope({ divisions: ['440700'] }));
  const time = async (name: string, count: number, fn: (i: number) => Promise<unknown>) => {
    for (let i = 0; i < Math.min(3, count); i++) await fn(i);
    const ms: number[] = [];
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      await fn(i);
      ms.push(performance.now() - t);
    }
    direct[name] = latencySummary(ms);
  };
  await time('list: listTrades, no filter', 30, () => listTrades(db, { scope, limit: 50 }));
  await time('list: listTrades, party', 30, (i) =>
    listTrades(db, { scope, party: stations[i % stations.length]!, limit: 50 }),
  );
  await time('list: listTrades, county + month', 30, (i) =>
    listTrades(db, {
      scope,
      division: { all: false, exact: [counties[i % counties.length]!], prefixes: [] },
      from: new Date('2026-09-01T00:00:00+08:00'),
      to: new Date('2026-10-01T00:00:00+08:00'),
      limit: 50,
    }),
  );
  await time('detail: the 6 queries', 50, async (i) => {
    const t = (await findTradeDetail(db, parseTradeKey(detailIds[i % detailIds.length]!)!))!;
    const ref = { platform: t.platform, trade_id: t.trade_id };
    await Promise.all([
      listTradeVersions(db, ref),
      listTradePayments(db, ref),
      listTradeWeighings(db, ref),
      listTradeInvoices(db, ref),
      listTradeAnomalies(db, ref),
    ]);
  });
  await time('chain: buildChain both, depth 10', 50, async (i) => {
    const ref = (await findTradeRef(db, chainIds[i % chainIds.length]!))!;
    await buildChain(db, ref, { direction: 'both', maxDepth: 10 });
  });
  const { startMs, endMs } = periodBounds('2026-09');
  const bounds = { start: new Date(startMs), end: new Date(endMs) };
  const hotParty = { key: hot, kind: 'enterprise' as const };
  let sheetData: Awaited<ReturnType<typeof loadReferenceSheetData>> | null = null;
  await time('sheet: loadReferenceSheetData', 5, async () => {
    sheetData = await loadReferenceSheetData(db, hotParty, '2026-09', bounds);
  });
  const party = await findParty(db, hot);
  await time('sheet: sheetFromFacts', 5, async () =>
    sheetFromFacts({
      party: { ...hotParty, name: party?.name ?? '', division: party?.division ?? '' },
      period: '2026-09',
      ...sheetData!,
    }),
  );
  await time('sheet: loadWithholdingPage (50 persons)', 5, async () =>
    loadWithholdingPage(db, hotParty, '2026-09', bounds, { after: null, limit: 51 }),
  );
  const sd = sheetData as Awaited<ReturnType<typeof loadReferenceSheetData>> | null;
  direct['sheet: input sizes'] = {
    trades_in_month: sd?.facts.coverage.trades.n,
    withholding_groups: sd?.facts.withholding.length,
    // Streams read whole (pending re-allocation, or sums that do not fit); the others are sums.
    stream_entries_read: sd?.stock.reduce(
      (a, s) => a + ('sums' in s ? 0 : s.purchases.length + s.sales.length),
      0,
    ),
  };
}

await runBench(main, async () => {
  await api?.stop();
  await env?.close({ keep: f.keep });
});
