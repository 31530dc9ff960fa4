/**
 * Shared plumbing of the benchmark scripts: flags, a private database and Redis prefix per run,
 * child processes (`serve api`, `serve worker`) with their peak RSS, percentiles and the final
 * report (a table on stderr-free stdout, then one JSON object).
 *
 * Every run is isolated: its own database `retrace_bench_<name>_<pid>` (created with the
 * migrator, dropped at the end unless --keep) and its own Redis prefix `bench-<name>-<pid>`
 * (deleted at the end). Traffic goes to 127.0.0.1 only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { type Config, loadConfig } from '../src/config';
import { migrate } from '../src/db/migrator';
import { insertPlatform } from '../src/repositories/platforms.repository';
import { createRuntime, type Runtime } from '../src/runtime';
import { generateSecret } from '../src/security/webhook';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const PG_BASE = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

// ---------------------------------------------------------------------------------------------
// Output: progress on stderr, figures on stdout
// ---------------------------------------------------------------------------------------------

const started = performance.now();

export function progress(msg: string): void {
  process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
}

export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Nearest-rank percentile of unsorted samples (copied and sorted here). */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = Float64Array.from(samples).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function latencySummary(ms: readonly number[]): {
  n: number;
  mean_ms: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  max_ms: number;
} {
  const n = ms.length;
  const sorted = Float64Array.from(ms).sort();
  const at = (p: number) =>
    n === 0 ? Number.NaN : sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]!;
  return {
    n,
    mean_ms: round(n === 0 ? Number.NaN : ms.reduce((a, b) => a + b, 0) / n, 2),
    p50_ms: round(at(50), 2),
    p95_ms: round(at(95), 2),
    p99_ms: round(at(99), 2),
    max_ms: round(n === 0 ? Number.NaN : sorted[n - 1]!, 2),
  };
}

/** A fixed-width table of rows (first row = header). */
export function table(rows: readonly (readonly (string | number | boolean | null)[])[]): string {
  const cells = rows.map((r) => r.map((c) => (c === null ? '—' : String(c))));
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join(
    '\n',
  );
}

/** Prints the human-readable table, then the JSON object as the last thing on stdout. */
export function report(title: string, human: string, figures: Record<string, unknown>): void {
  process.stdout.write(`\n${title}\n\n${human}\n\n`);
  process.stdout.write(
    `${JSON.stringify(figures, (_, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`,
  );
}

export function machineInfo(): Record<string, unknown> {
  return {
    node: process.version,
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model ?? 'unknown',
    memory_gib: round(totalmem() / 2 ** 30, 1),
    // Other work on the machine (tests of other engineers…) skews every figure: say how busy it was.
    loadavg_at_start: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number),
  };
}

// ---------------------------------------------------------------------------------------------
// Flags
// ---------------------------------------------------------------------------------------------

export type FlagSpec = Record<string, { type: 'string' | 'boolean'; default?: string | boolean }>;

export function flags<S extends FlagSpec>(
  spec: S,
  usage: string,
): { [K in keyof S]: S[K]['type'] extends 'boolean' ? boolean : string } & { keep: boolean } {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      ...spec,
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if ((values as { help?: boolean }).help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  return values as never;
}

export function intFlag(v: string, name: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new Error(`--${name} must be a number from ${min} to ${max}, got "${v}"`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// An isolated environment: database, Redis prefix, master key, platform
// ---------------------------------------------------------------------------------------------

export interface BenchEnv {
  name: string;
  databaseUrl: string;
  redisPrefix: string;
  masterKey: string;
  config: Config;
  rt: Runtime;
  /** Environment for child processes (`serve api`, `serve worker`). */
  childEnv(extra?: Record<string, string>): Record<string, string>;
  addPlatform(code: string, rateLimitPerSecond?: number): Promise<{ code: string; secret: string }>;
  /** Drops the database (unless kept) and deletes the Redis prefix. */
  close(opts?: { keep?: boolean }): Promise<void>;
}

export function benchDatabaseUrl(name: string): string {
  const u = new URL(PG_BASE);
  u.pathname = `/retrace_bench_${name}_${process.pid}`;
  return u.toString();
}

/**
 * Creates (or, with `existingUrl`, reuses) the run's database, applies the migrations and opens a
 * runtime on it. `existingUrl` must name a `retrace_bench_…` database: a benchmark never writes
 * to the demo database or to anyone else's.
 */
export async function openBenchEnv(
  name: string,
  opts: { existingUrl?: string; masterKey?: string; poolSize?: number } = {},
): Promise<BenchEnv> {
  const databaseUrl = opts.existingUrl ?? benchDatabaseUrl(name);
  const dbName = new URL(databaseUrl).pathname.slice(1);
  if (!/^retrace_bench_[a-z0-9_]+$/.test(dbName))
    throw new Error(`refusing to use database "${dbName}": benchmarks only use retrace_bench_* databases`);
  const redisPrefix = `bench-${name}-${process.pid}`;
  const masterKey = opts.masterKey ?? randomBytes(32).toString('base64');
  progress(`database ${dbName}: migrating`);
  await migrate(databaseUrl);
  const config = loadConfig({
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl,
    REDIS_URL: REDIS_URL,
    REDIS_PREFIX: redisPrefix,
    RETRACE_MASTER_KEY: masterKey,
    LOG_LEVEL: 'warn',
    PG_POOL_SIZE: String(opts.poolSize ?? 10),
  });
  const rt = createRuntime(config, 'bench');
  let closed = false;
  return {
    name,
    databaseUrl,
    redisPrefix,
    masterKey,
    config,
    rt,
    childEnv(extra = {}) {
      return {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        NODE_ENV: 'production',
        DATABASE_URL: databaseUrl,
        REDIS_URL: REDIS_URL,
        REDIS_PREFIX: redisPrefix,
        RETRACE_MASTER_KEY: masterKey,
        LOG_LEVEL: 'warn',
        ...extra,
      };
    },
    async addPlatform(code, rateLimitPerSecond = 1_000_000) {
      const secret = generateSecret();
      await insertPlatform(rt.db, {
        code,
        name: `Benchmark ${code}`,
        rateLimitPerSecond,
        secretEnc: rt.keyring.encrypt('platform-secrets', secret),
      });
      return { code, secret };
    },
    async close(o = {}) {
      if (closed) return;
      closed = true;
      await rt.close().catch(() => {});
      await deleteRedisPrefix(redisPrefix);
      if (o.keep) progress(`kept database ${dbName} (${databaseUrl})`);
      else if (!opts.existingUrl) await dropDatabase(databaseUrl);
    },
  };
}

export async function dropDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  if (!name.startsWith('retrace_bench_')) throw new Error(`refusing to drop ${name}`);
  const admin = new pg.Client({ connectionString: PG_BASE });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
    progress(`dropped database ${name}`);
  } finally {
    await admin.end();
  }
}

/** Deletes every key of the prefix (BullMQ queues, rate-limit counters). Bounded by SCAN. */
export async function deleteRedisPrefix(prefix: string): Promise<number> {
  if (!/^bench-[a-z0-9_-]+$/.test(prefix)) throw new Error(`refusing to delete Redis prefix ${prefix}`);
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

// ---------------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------------

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** Peak RSS seen so far, in MiB (VmHWM, sampled until the process ends). */
  peakRssMiB(): number;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** VmHWM of a live process in MiB, or null when it is gone. */
export function readPeakRssMiB(pid: number): number | null {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? round(Number(m[1]) / 1024, 1) : null;
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) a live process has used, or null when it is gone. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** Machine-wide busy share of all cores between two `machineCpu()` samples (0–1). */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

export function busyShare(a: { busy: number; total: number }, b: { busy: number; total: number }): number {
  return b.total === a.total ? 0 : round((b.busy - a.busy) / (b.total - a.total), 2);
}

export function selfPeakRssMiB(): number {
  return readPeakRssMiB(process.pid) ?? round(process.resourceUsage().maxRSS / 1024, 1);
}

/**
 * Starts `node --import tsx <script> …args` (no tsx wrapper process, so the pid is the process
 * that does the work and its /proc status is the one to read). Its stdout/stderr go to our
 * stderr prefixed with its name, warnings and errors only (the children log at warn).
 */
export function startChild(
  name: string,
  script: string,
  args: string[],
  env: Record<string, string>,
  opts: { readyLine?: string } = {},
): Child & { ready: Promise<void> } {
  // e.g. BENCH_CHILD_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the children.
  const nodeArgs = (process.env.BENCH_CHILD_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', path.join(ROOT, script), ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let peak = 0;
  const sample = () => {
    const v = readPeakRssMiB(proc.pid!);
    if (v !== null) peak = Math.max(peak, v);
  };
  const sampler = setInterval(sample, 500);
  sampler.unref();
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    proc.once('exit', (code, signal) => {
      exited = true;
      clearInterval(sampler);
      if (code !== 0 && signal === null) progress(`${name} exited with code ${code}`);
      resolve();
    }),
  );
  const ready = new Promise<void>((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      for (const line of text.split('\n')) if (line.trim()) process.stderr.write(`  (${name}) ${line}\n`);
      buffered = (buffered + text).slice(-8192);
      if (opts.readyLine && buffered.includes(opts.readyLine)) resolve();
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    if (!opts.readyLine) resolve();
    void exit.then(() => reject(new Error(`${name} exited before it was ready`)));
  });
  ready.catch(() => {});
  return {
    name,
    proc,
    pid: proc.pid!,
    ready,
    peakRssMiB() {
      if (!exited) sample();
      return peak;
    },
    async stop(signal = 'SIGTERM') {
      if (!exited) {
        sample();
        proc.kill(signal);
        const timer = setTimeout(() => {
          if (!exited) proc.kill('SIGKILL');
        }, 20_000);
        await exit;
        clearTimeout(timer);
      }
    },
  };
}

/** `retrace serve api` on 127.0.0.1:`port`; resolves once /healthz answers. */
export async function startApi(
  env: BenchEnv,
  port: number,
  extra: Record<string, string> = {},
): Promise<Child> {
  const child = startChild(
    'api',
    'src/main.ts',
    ['serve', 'api'],
    env.childEnv({ PORT: String(port), ...extra }),
  );
  await waitHttp(`http://127.0.0.1:${port}/healthz`, child);
  return child;
}

/** One `retrace serve worker` process (the real command); resolves once its workers run. */
export async function startWorker(
  env: BenchEnv,
  name: string,
  extra: Record<string, string> = {},
  script = 'src/main.ts',
  args = ['serve', 'worker'],
): Promise<Child> {
  // The worker logs "workers started" at info: run it at info, its per-job lines are at debug/warn.
  const child = startChild(name, script, args, env.childEnv({ LOG_LEVEL: 'info', ...extra }), {
    readyLine: '"workers started"',
  });
  await child.ready;
  return child;
}

export async function waitHttp(url: string, child?: Child, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (child && child.proc.exitCode !== null)
      throw new Error(`${child.name} exited before answering ${url}`);
    if (Date.now() > until) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
    await sleep(200);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A free TCP port on 127.0.0.1 (asked from the kernel, then released). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Runs `main`, and on any failure or Ctrl-C still cleans up what `cleanup` knows about. */
export async function runBench(main: () => Promise<void>, cleanup: () => Promise<void>): Promise<void> {
  let cleaning = false;
  const clean = async () => {
    if (cleaning) return;
    cleaning = true;
    await cleanup().catch((err) => progress(`cleanup failed: ${(err as Error).message}`));
  };
  process.once('SIGINT', () => {
    progress('interrupted: cleaning up');
    void clean().then(() => process.exit(130));
  });
  try {
    await main();
  } catch (err) {
    process.exitCode = 1;
    progress(`failed: ${(err as Error).stack ?? err}`);
  } finally {
    await clean();
  }
}
