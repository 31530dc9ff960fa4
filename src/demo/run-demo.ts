/**
 * `npm run demo`: the whole pipeline on one machine. Migrates, registers a demo platform and a
 * demo supervisor, starts one API and one worker process, pushes three months of simulated
 * Jiangmen data through the signed public API, shows progress while the workers catch up, then
 * prints a summary and where to look, and keeps serving until Ctrl-C (or exits with --exit).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { ConfigError, loadConfig } from '../config';
import type { Db } from '../db/database';
import { migrate, recreateDatabase } from '../db/migrator';
import { formatKg } from '../domain/money';
import { databaseProblems } from '../ops/database-checks';
import { produceDemoReports } from '../reports/demo';
import { insertOfficer, rotateOfficerToken } from '../repositories/officers.repository';
import { findPlatform, insertPlatform } from '../repositories/platforms.repository';
import { createRuntime } from '../runtime';
import { generateSecret } from '../security/webhook';
import { runSimulation } from '../simulate/run';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const argv = process.argv.slice(2);
const exitAfterSummary = argv.includes('--exit');
const flag = (name: string, fallback: number) => {
  const i = argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
};
const log = (m: string) => process.stderr.write(`demo: ${m}\n`);

let stopping = false;
const children: ChildProcess[] = [];

function start(name: string, args: string[]): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/main.ts'), ...args], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: process.env,
  });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      log(`${name} exited unexpectedly (${signal ?? code}); stopping`);
      void shutdown(1);
    }
  });
  return child;
}

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
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not become ready within ${seconds} s`);
}

async function backlog(db: Db) {
  const r = await sql<{ pending: number; processed: number; dead: number; streams: number; periods: number }>`
    SELECT (SELECT count(*) FROM inbound_events WHERE state = 'pending')::int AS pending,
           (SELECT count(*) FROM inbound_events WHERE state = 'processed')::int AS processed,
           (SELECT count(*) FROM inbound_events WHERE state = 'dead')::int AS dead,
           (SELECT count(*) FROM stream_dirty)::int AS streams,
           (SELECT count(*) FROM rule_dirty_periods)::int AS periods`.execute(db);
  return r.rows[0]!;
}

interface DemoState {
  platform: { code: string; secret: string };
  officer: { login: string; token: string };
}

async function main(): Promise<void> {
  const config = loadConfig();
  const months = flag('months', 3);
  const scale = flag('scale', 1);
  const database = new URL(config.databaseUrl).pathname.slice(1);
  log(`migrating database ${database}`);
  await migrate(config.databaseUrl);
  let rt = createRuntime(config, 'demo');
  // The demo's database sealed with another key (an earlier demo's data/ folder, which held the
  // generated development key, is gone): its secrets can never be opened again, and the API and
  // worker would refuse it. In development, where this key is the demo's own, start it afresh.
  const problems = await databaseProblems(rt.db, rt.keyring);
  if (problems.length > 0) {
    if (config.nodeEnv !== 'development' || config.masterKey !== null) throw new ConfigError(problems);
    log(
      `database ${database} was set up with another master key (an earlier demo's data/ is gone): recreating it`,
    );
    await rt.close();
    await recreateDatabase(config.databaseUrl);
    await migrate(config.databaseUrl);
    rt = createRuntime(config, 'demo');
  }
  const stateFile = path.resolve(config.dataDir, 'demo.json');
  const prior: Partial<DemoState> = existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : {};

  // The demo platform: reuse the one an earlier demo registered, or register it now.
  let platform = prior.platform;
  if (!platform || !(await findPlatform(rt.db, platform.code))) {
    platform = { code: 'jmrr', secret: generateSecret() };
    const base = { name: 'Jiangmen Recycling Exchange (demo)', rateLimitPerSecond: 20_000 };
    if (
      !(await insertPlatform(rt.db, {
        ...base,
        code: platform.code,
        secretEnc: rt.keyring.encrypt('platform-secrets', platform.secret),
      }))
    ) {
      // Registered by a demo whose state file is gone: its secret is unknown, so use a new code.
      platform = { code: `jmrr-${Date.now().toString(36)}`, secret: platform.secret };
      await insertPlatform(rt.db, {
        ...base,
        code: platform.code,
        secretEnc: rt.keyring.encrypt('platform-secrets', platform.secret),
      });
    }
  }
  // A supervisor for all of Jiangmen with PII access, to query what the demo produced.
  const login = 'demo.supervisor';
  const token =
    (await insertOfficer(rt.db, rt.keyring, {
      login,
      role: 'supervisor',
      divisions: ['440700'],
      pii: true,
    })) ?? (await rotateOfficerToken(rt.db, rt.keyring, login));
  if (!token) throw new Error('could not issue the demo supervisor token');
  const state: DemoState = { platform, officer: { login, token } };
  mkdirSync(path.dirname(stateFile), { recursive: true });
  writeFileSync(stateFile, JSON.stringify(state, null, 2), { mode: 0o600 });

  children.push(start('api', ['serve', 'api']), start('worker', ['serve', 'worker']));
  process.once('SIGINT', () => void shutdown(0));
  process.once('SIGTERM', () => void shutdown(0));
  const base = `http://127.0.0.1:${config.port}`;
  await waitFor(`${base}/readyz`, 90);
  log(
    `API ready at ${base}; pushing ${months} months of simulated data (scale ${scale}) as platform ${platform.code}`,
  );

  const started = Date.now();
  const simulation = await runSimulation({
    url: base,
    platform: platform.code,
    secret: platform.secret,
    seed: 1,
    months,
    scale,
    progress: true,
  });
  log(
    `pushed ${simulation.sent} events in ${((Date.now() - started) / 1000).toFixed(1)} s; waiting for the workers`,
  );
  for (;;) {
    const b = await backlog(rt.db);
    process.stderr.write(
      `\rdemo: processed ${b.processed}, pending ${b.pending}, streams to allocate ${b.streams}, periods to evaluate ${b.periods}    `,
    );
    if (b.pending === 0 && b.streams === 0 && b.periods === 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  process.stderr.write('\n');
  const seconds = (Date.now() - started) / 1000;
  const b = await backlog(rt.db);
  const counts = await sql<{
    trades: number;
    chained: number;
    unsourced_g: string;
    reconciled: number;
    discrepant: number;
  }>`
    SELECT (SELECT count(*) FROM trades)::int AS trades,
           (SELECT count(DISTINCT (sale_platform, sale_trade_id)) FROM allocations)::int AS chained,
           (SELECT COALESCE(sum(unsourced_g), 0) FROM sale_results r JOIN parties p ON p.party_key = r.party_key
             WHERE p.roles && ARRAY['recycler', 'sorting_center'] AND NOT 'generator' = ANY (p.roles))::text AS unsourced_g,
           (SELECT count(*) FROM trade_flows WHERE overall = 'reconciled')::int AS reconciled,
           (SELECT count(*) FROM trade_flows WHERE overall = 'discrepant')::int AS discrepant`.execute(rt.db);
  const findings = await rt.db
    .selectFrom('anomalies')
    .select(['rule', 'severity', (eb) => eb.fn.countAll<number>().as('n')])
    .where('status', '<>', 'closed')
    .groupBy(['rule', 'severity'])
    .orderBy('rule')
    .execute();
  const byRule: Record<string, Record<string, number>> = {};
  for (const f of findings) byRule[f.rule] = { ...byRule[f.rule], [f.severity]: Number(f.n) };
  const example = await rt.db
    .selectFrom('trades')
    .select(['platform', 'trade_id'])
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  const c = counts.rows[0]!;
  // The compliance reports of the last simulated month, for Jiangmen and each district.
  const [y, m] = simulation.start.split('-').map(Number) as [number, number];
  const lastIdx = y * 12 + (m - 1) + months - 1;
  const reportPeriod = `${Math.floor(lastIdx / 12)}-${String((lastIdx % 12) + 1).padStart(2, '0')}`;
  log(`producing the ${reportPeriod} compliance reports`);
  const reports = await produceDemoReports(rt, reportPeriod);
  const jiangmen = reports.reports.find((r) => r.division === '440700');
  const summary = {
    api: base,
    platform: { code: platform.code, secret: platform.secret },
    officer: { login, role: 'supervisor', divisions: ['440700'], pii: true, token },
    events: {
      sent: simulation.sent,
      accepted: simulation.accepted,
      duplicates: simulation.duplicates,
      rejected: simulation.rejected,
      ...b,
    },
    trades: c.trades,
    flows: { reconciled: c.reconciled, discrepant: c.discrepant },
    chains: {
      sales_allocated_to_purchases: c.chained,
      // What recyclers and sorting centres sold beyond what they had bought (UNSOURCED_SALE's quantity).
      traders_unsourced_kg: formatKg(BigInt(c.unsourced_g)),
    },
    findings: { total: findings.reduce((s, f) => s + Number(f.n), 0), by_rule_and_severity: byRule },
    planted_cases: simulation.planted.length,
    reports: {
      period: reportPeriod,
      jiangmen: jiangmen?.files ?? null,
      divisions: reports.reports.map((r) => ({ division: r.division, id: r.id, status: r.status })),
      api: `curl -H 'Authorization: Bearer ${token}' '${base}/v1/reports'`,
    },
    processing: {
      seconds: Math.round(seconds * 10) / 10,
      events_per_second: Math.round(simulation.sent / seconds),
    },
    look_at: {
      docs: `${base}/docs`,
      openapi: `${base}/openapi.json`,
      metrics: `${base}/metrics`,
      anomalies: `curl -H 'Authorization: Bearer ${token}' '${base}/v1/anomalies?limit=5'`,
      trade: example
        ? `curl -H 'Authorization: Bearer ${token}' '${base}/v1/trades/${example.platform}:${example.trade_id}'`
        : null,
      chain: example
        ? `curl -H 'Authorization: Bearer ${token}' '${base}/v1/trades/${example.platform}:${example.trade_id}/chain?direction=upstream'`
        : null,
      state_file: stateFile,
    },
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  await rt.close();
  if (exitAfterSummary) {
    await shutdown(0);
    return;
  }
  log('serving; press Ctrl-C to stop');
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
