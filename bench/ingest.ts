/**
 * Ingest throughput and latency (issue targets: durable single-event ingest ≥ 60% of the same
 * path without the database write, with p99 < 50 ms, at 50 concurrent connections; NDJSON bulk
 * ≥ 25,000 records/s with 10,000-line batches).
 *
 *   npx tsx bench/ingest.ts [--duration 15] [--warmup 3] [--connections 50] [--events 80000]
 *                           [--batches 6] [--batch-lines 10000] [--bulk-concurrency 2]
 *                           [--bulk-api-processes 1] [--keep]
 *
 * 1. baseline: bench/ingest-server.ts (the real app, ingestion without the database write) in a
 *    child process; signed single events from autocannon in this process;
 * 2. durable: `retrace serve api` in a child process, same load, same events (each stored once);
 * 3. bulk: NDJSON batches of 10,000 lines to the durable server (with `--bulk-api-processes N`,
 *    to `serve api --processes N` instead: a batch is validated by one process, so bulk
 *    throughput grows with API processes while cores are free).
 * Events are simulator events (all types), each request signed with a fresh id and timestamp.
 */
import { sql } from 'kysely';
import { parseEvent } from '../src/domain/events';
import { contentHash } from '../src/ingest/canonical';
import { IngestService } from '../src/ingest/ingest.service';
import { type NewEvent, storeEvents } from '../src/repositories/events.repository';
import { listActiveMaterialCodes } from '../src/repositories/platforms.repository';
import { eventPool, ndjson, postBatch, signedHeaders, singleBody } from './events';
import { runLoad } from './load';
import {
  type BenchEnv,
  busyShare,
  type Child,
  cpuSeconds,
  flags,
  freePort,
  intFlag,
  machineCpu,
  machineInfo,
  openBenchEnv,
  progress,
  report,
  round,
  runBench,
  selfPeakRssMiB,
  startApi,
  startChild,
  table,
  waitHttp,
} from './support';

const f = flags(
  {
    duration: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    events: { type: 'string', default: '80000' },
    batches: { type: 'string', default: '6' },
    'batch-lines': { type: 'string', default: '10000' },
    'bulk-concurrency': { type: 'string', default: '2' },
    'bulk-api-processes': { type: 'string', default: '1' },
  },
  'npx tsx bench/ingest.ts [--duration S] [--warmup S] [--connections N] [--events N] [--batches N] [--batch-lines N] [--bulk-concurrency N] [--bulk-api-processes N] [--keep]',
);
const duration = intFlag(f.duration, 'duration', 1, 600);
const warmup = intFlag(f.warmup, 'warmup', 0, 60);
const connections = intFlag(f.connections, 'connections', 1, 1000);
const singlePoolSize = intFlag(f.events, 'events', 1000, 2_000_000);
const batches = intFlag(f.batches, 'batches', 1, 1000);
const batchLines = intFlag(f['batch-lines'], 'batch-lines', 1, 10_000);
const bulkConcurrency = intFlag(f['bulk-concurrency'], 'bulk-concurrency', 1, 16);
const bulkApiProcesses = intFlag(f['bulk-api-processes'], 'bulk-api-processes', 1, 16);
const PLATFORM = 'bench';

let env: BenchEnv | null = null;
const children: Child[] = [];

async function singleEventRun(
  name: string,
  port: number,
  secret: string,
  events: readonly { body: string; id: string }[],
  cursor: { i: number; wrapped: boolean },
  server: Child,
) {
  const url = `http://127.0.0.1:${port}`;
  const path = `/v1/ingest/${PLATFORM}/events`;
  let n = 0;
  const next = () => {
    if (cursor.i >= events.length) {
      cursor.i = 0;
      cursor.wrapped = true;
    }
    const e = events[cursor.i++]!;
    // A fresh webhook-id per request when the pool wraps would still be a duplicate record.
    const id = cursor.wrapped ? `${e.id}.r${n++}` : e.id;
    return { method: 'POST', path, body: e.body, headers: signedHeaders(secret, id, e.body) };
  };
  if (warmup > 0) {
    progress(`${name}: warm-up ${warmup} s`);
    await runLoad({ url, connections, durationSeconds: warmup, next });
  }
  progress(`${name}: ${duration} s at ${connections} connections`);
  const cpu0 = cpuSeconds(server.pid) ?? 0;
  const self0 = process.cpuUsage();
  const m0 = machineCpu();
  const r = await runLoad({
    url,
    connections,
    durationSeconds: duration,
    next,
    onTick: (done) => progress(`${name}: ${done} responses`),
  });
  const serverCpu = (cpuSeconds(server.pid) ?? 0) - cpu0;
  const self = process.cpuUsage(self0);
  progress(`${name}: ${r.rps} req/s, p50 ${r.latency.p50_ms} ms, p99 ${r.latency.p99_ms} ms`);
  return {
    ...r,
    server_cpu_share: round(serverCpu / r.seconds, 2),
    loadgen_cpu_share: round((self.user + self.system) / 1e6 / r.seconds, 2),
    machine_busy_share: busyShare(m0, machineCpu()),
  };
}

async function main(): Promise<void> {
  env = await openBenchEnv('ingest');
  const platform = await env.addPlatform(PLATFORM);
  const bulkCount = batches * batchLines;
  const pool = eventPool(PLATFORM, singlePoolSize + bulkCount);
  const single = pool.slice(0, singlePoolSize).map((e) => ({ id: e.id, body: singleBody(e) }));
  const bulk = pool.slice(singlePoolSize, singlePoolSize + bulkCount);
  if (bulk.length < bulkCount) throw new Error(`only ${bulk.length} events left for the bulk run`);

  // 1. Baseline: same app, no database write.
  const basePort = await freePort();
  const base = startChild(
    'baseline-api',
    'bench/ingest-server.ts',
    [],
    env.childEnv({ PORT: String(basePort) }),
  );
  children.push(base);
  await waitHttp(`http://127.0.0.1:${basePort}/healthz`, base);
  const baseline = await singleEventRun(
    'baseline (no database write)',
    basePort,
    platform.secret,
    single,
    { i: 0, wrapped: false },
    base,
  );
  const baselineRss = base.peakRssMiB();
  await base.stop();

  // 2. Durable: the real `serve api`.
  const apiPort = await freePort();
  const api = await startApi(env, apiPort);
  children.push(api);
  const cursor = { i: 0, wrapped: false };
  const durable = await singleEventRun('durable (serve api)', apiPort, platform.secret, single, cursor, api);
  const stored = await sql<{ n: number }>`SELECT count(*)::int AS n FROM inbound_events`.execute(env.rt.db);

  // 3. NDJSON bulk to the durable server, or to `serve api --processes N`.
  let bulkApi = api;
  if (bulkApiProcesses > 1) {
    await api.stop();
    bulkApi = startChild(
      'api',
      'src/main.ts',
      ['serve', 'api', '--processes', String(bulkApiProcesses)],
      env.childEnv({ PORT: String(apiPort) }),
    );
    children.push(bulkApi);
    await waitHttp(`http://127.0.0.1:${apiPort}/healthz`, bulkApi);
  }
  progress(
    `bulk: ${batches} batches of ${batchLines} lines, ${bulkConcurrency} in flight, ${bulkApiProcesses} API process(es)`,
  );
  const batchTimes: number[] = [];
  const totals = { accepted: 0, duplicates: 0, rejected: 0 };
  // With several API processes, only the primary's CPU is read (a share of the work, not all).
  const bulkCpu0 = cpuSeconds(bulkApi.pid) ?? 0;
  const t0 = performance.now();
  let nextBatch = 0;
  await Promise.all(
    Array.from({ length: bulkConcurrency }, async () => {
      while (nextBatch < batches) {
        const b = nextBatch++;
        const r = await postBatch(
          `http://127.0.0.1:${apiPort}`,
          PLATFORM,
          platform.secret,
          `bench-batch-${b}`,
          bulk.slice(b * batchLines, (b + 1) * batchLines),
        );
        batchTimes.push(r.ms);
        totals.accepted += r.accepted;
        totals.duplicates += r.duplicates;
        totals.rejected += r.rejected;
        progress(`bulk: batch ${b + 1}/${batches} in ${Math.round(r.ms)} ms (${r.accepted} accepted)`);
      }
    }),
  );
  const bulkSeconds = (performance.now() - t0) / 1000;
  const bulkServerCpu = (cpuSeconds(bulkApi.pid) ?? 0) - bulkCpu0;
  const apiRss = api.peakRssMiB();
  await bulkApi.stop();
  await api.stop(); // (already stopped when the bulk server is another one)

  // Where the bulk time goes: one batch's lines again, in this process, step by step (on other
  // platforms, so that nothing is a duplicate), then IngestService.ingestBatch on all of it.
  progress('bulk breakdown (in process)');
  const lines = bulk.slice(0, batchLines);
  const x = await env.addPlatform('benchx');
  await env.addPlatform('benchy');
  const materials = new Set(await listActiveMaterialCodes(env.rt.db));
  // Warm-up: the first validation of each schema in this process would be timed cold.
  for (const e of lines) parseEvent(JSON.parse(JSON.stringify(e)), { materials }, '');
  let t = performance.now();
  const parsed = lines.map((e) => {
    const raw = Buffer.from(JSON.stringify(e));
    const body = JSON.parse(raw.toString('utf8')) as { type: string; data: unknown };
    const r = parseEvent(body, { materials }, '');
    if (!r.ok) throw new Error(`line ${e.id} does not parse: ${JSON.stringify(r.errors)}`);
    return { e, raw, body, r };
  });
  const parseMs = performance.now() - t;
  t = performance.now();
  const receivedAt = new Date();
  const newEvents: NewEvent[] = parsed.map(({ e, raw, body, r }) => ({
    platform: x.code,
    eventId: e.id,
    eventType: body.type,
    eventTs: new Date(e.timestamp),
    recordKind: r.record.kind,
    recordKey: r.record.key,
    recordVersion: r.record.version,
    contentSha256: contentHash(body.type, body.data),
    sealedBody: env!.rt.keyring.encryptBytes('event-bodies', raw),
    signature: null,
    batchId: 'breakdown',
    batchLine: 1,
    receivedAt,
  }));
  const hashSealMs = performance.now() - t;
  t = performance.now();
  await env.rt.db.transaction().execute((trx) => storeEvents(trx, newEvents));
  const storeMs = performance.now() - t;
  const service = new IngestService({
    db: env.rt.db,
    queues: env.rt.queues,
    redis: env.rt.queues.redis,
    redisPrefix: env.redisPrefix,
    keyring: env.rt.keyring,
    metrics: env.rt.metrics,
    log: env.rt.log,
  });
  const raw = ndjson(lines);
  t = performance.now();
  const full = await service.ingestBatch(
    'benchy',
    { id: 'breakdown', timestamp: null, signature: null },
    raw,
    new Date(),
  );
  const fullMs = performance.now() - t;
  await service.close();
  const breakdown = {
    lines: lines.length,
    accepted_by_ingest_batch: full.accepted,
    parse_and_validate_ms: round(parseMs, 0),
    hash_and_seal_ms: round(hashSealMs, 0),
    store_events_insert_ms: round(storeMs, 0),
    ingest_batch_total_ms: round(fullMs, 0),
    ingest_batch_records_per_s: round(lines.length / (fullMs / 1000), 0),
  };

  const ratio = round(durable.rps / baseline.rps, 3);
  const bulkRate = round(totals.accepted / bulkSeconds, 0);
  const figures = {
    benchmark: 'ingest',
    machine: machineInfo(),
    parameters: {
      duration_s: duration,
      warmup_s: warmup,
      connections,
      single_pool: single.length,
      batches,
      batch_lines: batchLines,
      bulk_concurrency: bulkConcurrency,
      bulk_api_processes: bulkApiProcesses,
      server_log_level: 'warn',
    },
    baseline_no_db: { ...baseline, server_peak_rss_mib: baselineRss },
    durable: {
      ...durable,
      server_peak_rss_mib: apiRss,
      pool_wrapped: cursor.wrapped,
      inbound_events_after_single_runs: stored.rows[0]!.n,
    },
    durable_to_baseline_ratio: ratio,
    bulk: {
      records: totals.accepted + totals.duplicates + totals.rejected,
      ...totals,
      seconds: round(bulkSeconds, 2),
      records_per_s: bulkRate,
      batch_ms: {
        p50: round([...batchTimes].sort((a, b) => a - b)[Math.floor(batchTimes.length / 2)] ?? 0, 0),
        max: round(Math.max(...batchTimes), 0),
      },
      server_cpu_share: round(bulkServerCpu / bulkSeconds, 2),
      in_process_breakdown: breakdown,
    },
    loadgen_peak_rss_mib: selfPeakRssMiB(),
    targets: {
      durable_ratio_ge_0_60: ratio >= 0.6,
      durable_p99_lt_50ms: durable.latency.p99_ms < 50,
      bulk_ge_25000_per_s: bulkRate >= 25_000,
    },
  };
  report(
    'Ingest (signed single events at 50 connections; NDJSON bulk)',
    table([
      ['run', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'statuses', 'server CPU', 'peak RSS MiB'],
      [
        'baseline (no DB write)',
        baseline.rps,
        baseline.latency.p50_ms,
        baseline.latency.p95_ms,
        baseline.latency.p99_ms,
        JSON.stringify(baseline.statuses),
        baseline.server_cpu_share,
        baselineRss,
      ],
      [
        'durable (serve api)',
        durable.rps,
        durable.latency.p50_ms,
        durable.latency.p95_ms,
        durable.latency.p99_ms,
        JSON.stringify(durable.statuses),
        durable.server_cpu_share,
        apiRss,
      ],
    ]) +
      `\n\ndurable / baseline = ${ratio} (target ≥ 0.60: ${ratio >= 0.6 ? 'met' : 'NOT met'}); durable p99 ${durable.latency.p99_ms} ms (target < 50: ${durable.latency.p99_ms < 50 ? 'met' : 'NOT met'})` +
      `\nbulk: ${totals.accepted} records in ${round(bulkSeconds, 2)} s = ${bulkRate} records/s (target ≥ 25,000: ${bulkRate >= 25_000 ? 'met' : 'NOT met'})` +
      `\nbulk breakdown (one ${lines.length}-line batch, in process): parse+validate ${breakdown.parse_and_validate_ms} ms, ` +
      `hash+seal ${breakdown.hash_and_seal_ms} ms, INSERT ${breakdown.store_events_insert_ms} ms; IngestService.ingestBatch ${breakdown.ingest_batch_total_ms} ms`,
    figures,
  );
}

await runBench(main, async () => {
  for (const c of children) await c.stop();
  await env?.close({ keep: f.keep });
});
