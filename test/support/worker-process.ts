import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import type { TestContext } from './context';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * A real `retrace serve worker` process on the test file's database and Redis prefix, with a
 * fast sweep so recovery tests finish quickly.
 */
export function startWorkerProcess(
  ctx: TestContext,
  extraEnv: Record<string, string> = {},
): ChildProcess & { ready: Promise<void> } {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(root, 'src/main.ts'), 'serve', 'worker'],
    {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'test',
        DATABASE_URL: ctx.config.databaseUrl,
        REDIS_URL: ctx.config.redisUrl,
        REDIS_PREFIX: ctx.redisPrefix,
        RETRACE_MASTER_KEY: ctx.config.masterKey!.toString('base64'),
        QUEUE_PARTITIONS: String(ctx.config.queuePartitions),
        SWEEP_INTERVAL_SECONDS: '1',
        SWEEP_MIN_AGE_SECONDS: '2',
        LOG_LEVEL: 'info',
        ...extraEnv,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  // Resolves once the process logs that its workers run (its signal handlers are in place).
  const ready = new Promise<void>((resolve) => {
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered = (buffered + chunk.toString()).slice(-4096);
      if (buffered.includes('"workers started"')) resolve();
    });
  });
  return Object.assign(child, { ready });
}

export async function stopProcess(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill(signal);
  return exited;
}

export interface Backlog {
  pending: number;
  processed: number;
  dead: number;
  streams: number;
  periods: number;
}

export async function backlog(ctx: TestContext): Promise<Backlog> {
  const r = await sql<Backlog>`
    SELECT (SELECT count(*) FROM inbound_events WHERE state = 'pending')::int AS pending,
           (SELECT count(*) FROM inbound_events WHERE state = 'processed')::int AS processed,
           (SELECT count(*) FROM inbound_events WHERE state = 'dead')::int AS dead,
           (SELECT count(*) FROM stream_dirty)::int AS streams,
           (SELECT count(*) FROM rule_dirty_periods)::int AS periods`.execute(ctx.rt.db);
  return r.rows[0]!;
}

/** Waits until the workers have nothing left to do (or the time runs out). */
export async function waitSettled(ctx: TestContext, timeoutMs = 120_000): Promise<Backlog> {
  const until = Date.now() + timeoutMs;
  let b = await backlog(ctx);
  while (Date.now() < until) {
    b = await backlog(ctx);
    if (b.pending === 0 && b.streams === 0 && b.periods === 0) return b;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`workers did not settle: ${JSON.stringify(b)}`);
}
