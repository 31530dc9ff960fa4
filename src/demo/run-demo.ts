/**
 * `npm run demo`: the whole pipeline on one machine. Migrates, registers a demo platform, starts
 * one API and one worker process, pushes data as a trading platform would, waits for the workers
 * to catch up, prints a summary and where to look, then keeps serving until Ctrl-C
 * (or exits with --exit).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from '../config';
import { migrate } from '../db/migrator';
import { countEventsByState } from '../repositories/events.repository';
import { findPlatform, insertPlatform } from '../repositories/platforms.repository';
import { createRuntime } from '../runtime';
import { generateSecret } from '../security/webhook';
import { pushDemoData } from './push';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const exitAfterSummary = process.argv.includes('--exit');
const log = (m: string) => process.stderr.write(`demo: ${m}\n`);

function start(name: string, args: string[]): ChildProcess {
  const child = spawn(
    process.execPath,
    [path.join(root, 'node_modules/tsx/dist/cli.mjs'), path.join(root, 'src/main.ts'), ...args],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: process.env,
    },
  );
  child.on('exit', (code, signal) => {
    if (!stopping) {
      log(`${name} exited unexpectedly (${signal ?? code}); stopping`);
      void shutdown(1);
    }
  });
  return child;
}

let stopping = false;
const children: ChildProcess[] = [];
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(
    children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))),
  );
  process.exit(code);
}

async function waitFor(url: string, seconds: number): Promise<void> {
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not become ready within ${seconds} s`);
}

async function main(): Promise<void> {
  const config = loadConfig();
  log(`migrating ${new URL(config.databaseUrl).pathname.slice(1)}`);
  await migrate(config.databaseUrl);
  const rt = createRuntime(config, 'demo');
  try {
    const stateFile = path.resolve(config.dataDir, 'demo-platform.json');
    let platform: { code: string; secret: string };
    if (
      existsSync(stateFile) &&
      (await findPlatform(rt.db, JSON.parse(readFileSync(stateFile, 'utf8')).code))
    ) {
      platform = JSON.parse(readFileSync(stateFile, 'utf8'));
    } else {
      platform = { code: 'jmrr', secret: generateSecret() };
      const created = await insertPlatform(rt.db, {
        code: platform.code,
        name: 'Jiangmen Recycling Exchange (demo)',
        rateLimitPerSecond: 5000,
        secretEnc: rt.keyring.encrypt('platform-secrets', platform.secret),
      });
      if (!created) {
        // Registered by an earlier demo whose state file is gone: take a fresh secret for it.
        platform = { code: `jmrr${Date.now().toString(36)}`, secret: platform.secret };
        await insertPlatform(rt.db, {
          code: platform.code,
          name: 'Jiangmen Recycling Exchange (demo)',
          rateLimitPerSecond: 5000,
          secretEnc: rt.keyring.encrypt('platform-secrets', platform.secret),
        });
      }
      mkdirSync(path.dirname(stateFile), { recursive: true });
      writeFileSync(stateFile, JSON.stringify(platform), { mode: 0o600 });
    }

    children.push(start('api', ['serve', 'api']), start('worker', ['serve', 'worker']));
    process.once('SIGINT', () => void shutdown(0));
    process.once('SIGTERM', () => void shutdown(0));
    const base = `http://127.0.0.1:${config.port}`;
    await waitFor(`${base}/readyz`, 60);
    log(`API ready at ${base}`);

    const started = Date.now();
    const pushed = await pushDemoData({
      baseUrl: base,
      platform: platform.code,
      secret: platform.secret,
      log,
    });
    log('waiting for the workers to process everything');
    for (;;) {
      const states = await countEventsByState(rt.db);
      if (!states.pending) break;
      process.stderr.write(`\rdemo: pending ${states.pending}, processed ${states.processed ?? 0}   `);
      await new Promise((r) => setTimeout(r, 500));
    }
    process.stderr.write('\n');
    const states = await countEventsByState(rt.db);
    const seconds = (Date.now() - started) / 1000;
    const summary = {
      api: base,
      platform: platform,
      pushed,
      events_by_state: states,
      seconds: Math.round(seconds * 10) / 10,
      look_at: {
        openapi: `${base}/openapi.json`,
        docs: `${base}/docs`,
        metrics: `${base}/metrics`,
        ready: `${base}/readyz`,
      },
    };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    if (exitAfterSummary) {
      await rt.close();
      await shutdown(0);
      return;
    }
    log('serving; press Ctrl-C to stop');
  } catch (err) {
    await rt.close();
    throw err;
  }
}

main().catch(async (err) => {
  if (err instanceof ConfigError) {
    log('the configuration is not valid:');
    for (const p of err.problems) log(`  ${p}`);
  } else {
    log(`failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  await shutdown(1);
});
