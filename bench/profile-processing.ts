/**
 * Where processing time goes: ingests a simulated data set through the real IngestService
 * (NDJSON batches), then runs the workers' processing functions in this process — events, then
 * allocation — and prints the time of each stage. Run with `node --cpu-prof --import tsx` to get
 * a CPU profile; `--statements` times each statement of the processing stage; `--batch N` sets
 * the events per transaction (default: the workers' MAX_EVENTS_PER_JOB). Its own database and Redis prefix, dropped at the end
 * (`--keep` keeps the database).
 *
 * The machine is shared, so wall-clock rates are noisy; the CPU time of the stage — this process
 * and the PostgreSQL backends serving its database (read from /proc, same machine) — is the
 * steadier figure: on 2 cores, CPU per event bounds the rate.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import pg from 'pg';
import { loadConfig } from '../src/config';
import { refreshStaleStatistics } from '../src/db/maintenance';
import { migrate } from '../src/db/migrator';
import { DEFAULT_TOLERANCES } from '../src/domain/tolerances';
import { IngestService } from '../src/ingest/ingest.service';
import { allocateDirtyStream, DEFAULT_STREAMS_PER_TRANSACTION } from '../src/processing/allocate';
import { processEvents } from '../src/processing/events';
import { MAX_EVENTS_PER_JOB } from '../src/queue/jobs';
import { insertPlatform } from '../src/repositories/platforms.repository';
import { createRuntime } from '../src/runtime';
import { generateDataset } from '../src/simulate/generator';
import { deleteRedisPrefix } from './support';

const args = process.argv.slice(2);
const scale = Number(args[0] && !args[0].startsWith('--') ? args[0] : 1);
// --statements: count and time every statement of the processing stage by its SQL text (the
// client's query is wrapped in this process only; the server's pg_stat_statements needs a restart).
const batchArg = args.indexOf('--batch');
const batchSize = batchArg >= 0 ? Number(args[batchArg + 1]) : MAX_EVENTS_PER_JOB;
// --keep: leave the database for a look at the plans (drop it yourself).
const keep = args.includes('--keep');
const statements = args.includes('--statements') ? new Map<string, { n: number; ms: number }>() : null;
let recording = false;
if (statements) {
  const query = pg.Client.prototype.query as (...a: unknown[]) => unknown;
  pg.Client.prototype.query = function (this: pg.Client, ...a: unknown[]) {
    const text = typeof a[0] === 'string' ? a[0] : ((a[0] as { text?: string })?.text ?? '?');
    const r = query.apply(this, a);
    if (!recording || !(r instanceof Promise)) return r;
    const t0 = performance.now();
    const key = text.replace(/\s+/g, ' ').slice(0, 110);
    return r.finally(() => {
      const s = statements.get(key) ?? { n: 0, ms: 0 };
      s.n++;
      s.ms += performance.now() - t0;
      statements.set(key, s);
    });
  } as typeof pg.Client.prototype.query;
}
const base = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/retrace';
const url = new URL(base);
url.pathname = `/retrace_bench_profile_${process.pid}`;
await migrate(url.toString());
const rt = createRuntime(
  loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: url.toString(),
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_PREFIX: `bench-profile-${process.pid}`,
    RETRACE_MASTER_KEY: process.env.RETRACE_MASTER_KEY ?? randomBytes(32).toString('base64'),
    LOG_LEVEL: 'silent',
  }),
  'bench',
);
try {
  await insertPlatform(rt.db, {
    code: 'prof',
    name: 'profile',
    secretEnc: rt.keyring.encrypt('platform-secrets', 'whsec_x'),
  });
  /** CPU ms so far of this process and of the PostgreSQL backends connected to the bench database. */
  const cpuNow = async () => {
    const { rows } = await sql<{ pid: number }>`
      SELECT pid FROM pg_stat_activity WHERE datname = current_database()`.execute(rt.db);
    const tick = 10; // ms per clock tick (USER_HZ 100)
    let pgMs = 0;
    for (const { pid } of rows) {
      try {
        const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        pgMs += (Number(f[11]) + Number(f[12])) * tick;
      } catch {
        // a backend that just exited, or PostgreSQL on another machine: counted as 0
      }
    }
    const u = process.cpuUsage();
    return { node: (u.user + u.system) / 1000, pg: pgMs };
  };
  const data = generateDataset({ seed: 3, months: 3, scale, platform: 'prof' });
  const ingest = new IngestService({
    db: rt.db,
    queues: rt.queues,
    redis: rt.queues.redis,
    redisPrefix: 'x',
    keyring: rt.keyring,
    metrics: rt.metrics,
    log: rt.log,
  });
  let t = performance.now();
  for (let i = 0; i < data.events.length; i += 5000) {
    const body = Buffer.from(
      `${data.events
        .slice(i, i + 5000)
        .map((e) => JSON.stringify(e))
        .join('\n')}\n`,
    );
    await ingest.ingestBatch('prof', { id: `b${i}`, timestamp: null, signature: null }, body, new Date());
  }
  const ingestMs = performance.now() - t;
  const ctx = { db: rt.db, keyring: rt.keyring, tolerances: DEFAULT_TOLERANCES, log: rt.log, batchSize };
  // The workers' sweep refreshes stale planner statistics every 15 s (autovacuum may be off, and
  // is slow to notice a table grown from empty); without it the events' pending lookup is planned
  // as if the table were empty and scans it whole on every batch.
  await refreshStaleStatistics(rt.db);
  const cpu0 = await cpuNow();
  t = performance.now();
  recording = true;
  let batches = 0;
  const excluded = { ms: 0, node: 0, pg: 0 };
  for (;;) {
    const r = await processEvents(ctx, 'prof', ['-']);
    if (r.processed === 0) break;
    batches++;
    if (batches % 10 === 0) {
      // Not part of the figures: neither its statements nor its time and CPU.
      recording = false;
      const [c0, t0] = [await cpuNow(), performance.now()];
      await refreshStaleStatistics(rt.db);
      const c1 = await cpuNow();
      excluded.ms += performance.now() - t0;
      excluded.node += c1.node - c0.node;
      excluded.pg += c1.pg - c0.pg;
      recording = true;
    }
  }
  const processMs = performance.now() - t - excluded.ms;
  recording = false;
  const cpu1 = await cpuNow();
  const cpu2 = await cpuNow();
  t = performance.now();
  const dirty = await rt.db.selectFrom('stream_dirty').select(['party_key', 'material']).execute();
  for (const d of dirty)
    await allocateDirtyStream(rt.db, { partyKey: d.party_key, material: d.material }, undefined, {
      streamsPerTransaction: DEFAULT_STREAMS_PER_TRANSACTION,
    });
  const allocateMs = performance.now() - t;
  const cpu3 = await cpuNow();
  const n = data.events.length;
  console.log(
    JSON.stringify({
      events: n,
      ingest: { ms: Math.round(ingestMs), per_s: Math.round((n / ingestMs) * 1000) },
      process: {
        ms: Math.round(processMs),
        batches,
        per_s: Math.round((n / processMs) * 1000),
        cpu_us_per_event: {
          node: Math.round(((cpu1.node - cpu0.node - excluded.node) / n) * 1000),
          postgres: Math.round(((cpu1.pg - cpu0.pg - excluded.pg) / n) * 1000),
        },
      },
      allocate: {
        ms: Math.round(allocateMs),
        streams: dirty.length,
        cpu_us_per_event: {
          node: Math.round(((cpu3.node - cpu2.node) / n) * 1000),
          postgres: Math.round(((cpu3.pg - cpu2.pg) / n) * 1000),
        },
      },
      end_to_end_per_s: Math.round((n / (processMs + allocateMs)) * 1000),
    }),
  );
  if (statements) {
    const all = [...statements.entries()].sort((a, b) => b[1].ms - a[1].ms);
    const total = all.reduce((s, [, v]) => s + v.n, 0);
    console.log(
      `statements in processing: ${total} (${(total / Math.max(1, batches)).toFixed(1)} per transaction)`,
    );
    for (const [k, v] of all)
      console.log(`${String(v.n).padStart(6)} ${v.ms.toFixed(0).padStart(7)} ms  ${k}`);
  }
} finally {
  await rt.close();
  // The ingest step queued jobs under this run's prefix; nothing consumes them here.
  await deleteRedisPrefix(`bench-profile-${process.pid}`);
  const admin = new URL(base);
  admin.pathname = '/postgres';
  const c = new pg.Client({ connectionString: admin.toString() });
  await c.connect();
  if (keep) console.error(`kept ${url.pathname.slice(1)}`);
  else await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(url.pathname.slice(1))} WITH (FORCE)`);
  await c.end();
}
