import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { config as loadDotenv } from 'dotenv';
import { auditCommand } from './cli/audit';
import { type OfficerFlags, officerCommand } from './cli/officer';
import { printJson, say, UsageError } from './cli/output';
import { platformCommand } from './cli/platform';
import { chainCommand, deadLettersCommand } from './cli/processing';
import { quarantineCommand } from './cli/quarantine';
import {
  MATERIALS_USAGE,
  materialsCommand,
  type ReferenceDataFlags,
  TREATMENTS_USAGE,
  treatmentsCommand,
} from './cli/reference-data';
import { type ReportFlags, reportCommand, reportsCommand } from './cli/report';
import { rulesCommand } from './cli/rules';
import { simulateCommand } from './cli/simulate';
import { ConfigError, loadConfig } from './config';
import { migrate } from './db/migrator';
import { runApiProcesses } from './http/server';
import { createLogger } from './log';
import { assertDatabaseReady } from './ops/database-checks';
import { applyHeapGrowth } from './ops/heap';
import { createRuntime } from './runtime';

const USAGE = `retrace <command>

  migrate                                   create the database if missing and apply sql/ migrations
  platform add <code> --name <name> [--rate-limit N]
  platform rotate-secret <code> | revoke-old-secrets <code> | disable <code> | enable <code> | list
  officer add <login> --role officer|supervisor|auditor|admin --divisions 440703,440704 [--pii]
  officer rotate-token <login> | disable <login> | enable <login> | list
  audit verify [--expect-head <id>:<hash>]  check the audit log's hash chain (exit 1 when broken)
  serve api [--processes N] | serve worker  run the HTTP API (N processes on one port) / the queue workers
  quarantine list [--platform P] [--all] [--limit N] [--before ID] | quarantine replay <id>
  dead-letters list [--platform P] | dead-letters retry <platform>:<event_id> | --all
  chain <platform>:<trade_id> [--direction upstream|downstream|both] [--depth 1..20]
  simulate --url <base> --platform <code> --secret <whsec> [--seed N] [--months N] [--scale N] [--start YYYY-MM]
  rules replay --from YYYY-MM --to YYYY-MM [--rule CODE]   recompute findings for a window, report what changed
  rules list | rules set <RULE> --from YYYY-MM --params '<json>' [--disable]
  ${MATERIALS_USAGE}
  ${TREATMENTS_USAGE}
  report --kind monthly_anomalies --division <code> --period YYYY-MM   produce a report now; prints its id and file paths
  reports list [--division CODE] [--period YYYY-MM] [--limit N] | reports schedule [--period YYYY-MM]

Configuration is read from the environment (and .env): DATABASE_URL, REDIS_URL, PORT,
RETRACE_MASTER_KEY (see README.md).`;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * How many positional words each command takes, its own name included (`officer add <login>`: 3).
 * More is a mistake to report, not to ignore: `--divisions 440703, 440704` would otherwise drop a
 * division silently.
 */
function maxPositionals(command: string, sub: string | undefined): number {
  switch (command) {
    case 'migrate':
    case 'simulate':
    case 'report':
      return 1;
    case 'chain':
    case 'serve':
    case 'audit':
    case 'reports':
      return 2;
    case 'platform':
    case 'officer':
      return sub === 'list' ? 2 : 3;
    case 'quarantine':
      return sub === 'replay' ? 3 : 2;
    case 'dead-letters':
      return sub === 'retry' ? 3 : 2;
    case 'rules':
      return sub === 'set' ? 3 : 2;
    case 'materials':
    case 'treatments':
      return sub === 'list' ? 2 : 3;
    default:
      return Number.POSITIVE_INFINITY; // an unknown command is reported as such
  }
}

/** Flags as parseArgs reads them, strict: an unknown flag, or a value missing, is a usage error. */
function parseFlags(argv: string[]) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: true, options: FLAGS });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${USAGE}`);
  }
}

const FLAGS = {
  name: { type: 'string' },
  'rate-limit': { type: 'string' },
  platform: { type: 'string' },
  all: { type: 'boolean' },
  limit: { type: 'string' },
  before: { type: 'string' },
  role: { type: 'string' },
  divisions: { type: 'string' },
  pii: { type: 'boolean' },
  direction: { type: 'string' },
  depth: { type: 'string' },
  url: { type: 'string' },
  secret: { type: 'string' },
  seed: { type: 'string' },
  months: { type: 'string' },
  scale: { type: 'string' },
  start: { type: 'string' },
  concurrency: { type: 'string' },
  progress: { type: 'boolean' },
  from: { type: 'string' },
  to: { type: 'string' },
  rule: { type: 'string' },
  params: { type: 'string' },
  disable: { type: 'boolean' },
  note: { type: 'string' },
  kind: { type: 'string' },
  division: { type: 'string' },
  period: { type: 'string' },
  processes: { type: 'string' },
  'expect-head': { type: 'string' },
  'name-zh': { type: 'string' },
  'name-en': { type: 'string' },
  treatment: { type: 'string' },
  unit: { type: 'string' },
  hazardous: { type: 'string' },
  price: { type: 'string' },
  rate: { type: 'string' },
  'monthly-exemption': { type: 'string' },
  description: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const DATABASE_COMMANDS: ReadonlySet<string> = new Set([
  'serve',
  'platform',
  'officer',
  'audit',
  'quarantine',
  'dead-letters',
  'chain',
  'rules',
  'materials',
  'treatments',
  'report',
  'reports',
]);

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseFlags(argv);
  const [command, ...rest] = positionals;
  if (command && positionals.length > maxPositionals(command, rest[0])) {
    throw new UsageError(
      `unexpected argument "${positionals[maxPositionals(command, rest[0])]}" (a list of divisions is one argument: 440703,440704)\n\n${USAGE}`,
    );
  }
  if (!command || values.help) {
    say(USAGE);
    if (!command && !values.help) process.exitCode = 2;
    return;
  }
  // The simulator is a pure HTTP client: it needs no database or configuration.
  if (command === 'simulate') return simulateCommand(values as Record<string, string | boolean | undefined>);
  if (existsSync(path.join(process.cwd(), '.env'))) loadDotenv({ quiet: true });
  const config = loadConfig();
  const flags = values as Record<string, string | boolean | undefined>;

  if (command === 'migrate') {
    const result = await migrate(config.databaseUrl);
    say(
      `database ${result.database}: ${result.applied.length} migration(s) applied, ${result.already_applied} already applied`,
    );
    printJson(result);
    return;
  }
  // The commands below read the database with the keyring: refuse to start on one that is not
  // migrated, or that the configured master key does not open (src/ops/database-checks.ts).
  if (DATABASE_COMMANDS.has(command)) await assertDatabaseReady(config);
  if (command === 'serve') {
    const [what] = rest;
    applyHeapGrowth(config.heapGrowingPercent);
    if (what === 'api') {
      const processes = flags.processes === undefined ? 1 : Number(flags.processes);
      if (!Number.isInteger(processes) || processes < 1 || processes > 64)
        throw new UsageError('--processes must be a whole number from 1 to 64');
      return runApiProcesses(
        processes,
        () => createRuntime(config, 'api'),
        createLogger(config.logLevel, { role: 'api' }),
      );
    }
    if (what === 'worker') {
      // Loaded on demand: nothing in src/ depends on workers/ at import time.
      const workers = await import(pathToFileURL(path.join(root, 'workers/main.ts')).href);
      return workers.runWorkers(
        createRuntime({ ...config, pgPoolSize: workers.workerPoolSize(config) }, 'worker'),
      );
    }
    throw new UsageError('serve api | serve worker');
  }

  const rt = createRuntime(config, 'cli');
  try {
    switch (command) {
      case 'platform':
        return await platformCommand(rt, rest, flags as { name?: string; 'rate-limit'?: string });
      case 'quarantine':
        return await quarantineCommand(
          rt,
          rest,
          flags as { platform?: string; all?: boolean; limit?: string; before?: string },
        );
      case 'officer':
        return await officerCommand(rt, rest, flags as OfficerFlags);
      case 'audit':
        return await auditCommand(rt, rest, flags);
      case 'rules':
        return await rulesCommand(rt, rest, flags as Parameters<typeof rulesCommand>[2]);
      case 'materials':
        return await materialsCommand(rt, rest, flags as ReferenceDataFlags);
      case 'treatments':
        return await treatmentsCommand(rt, rest, flags as ReferenceDataFlags);
      case 'dead-letters':
        return await deadLettersCommand(
          rt,
          rest,
          flags as { platform?: string; all?: boolean; limit?: string; before?: string },
        );
      case 'report':
        return await reportCommand(rt, flags as ReportFlags);
      case 'reports':
        return await reportsCommand(rt, rest, flags as ReportFlags);
      case 'chain':
        return await chainCommand(rt, rest, flags as { direction?: string; depth?: string });
      default:
        throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
    }
  } finally {
    await rt.close();
  }
}

main(process.argv.slice(2)).catch((err) => {
  if (err instanceof ConfigError) {
    say('Retrace cannot start: the configuration is not valid.');
    for (const p of err.problems) say(`  ${p}`);
    process.exit(1);
  }
  if (err instanceof UsageError) {
    say(err.message);
    process.exit(2);
  }
  say(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

export { printJson };
