/**
 * `retrace simulate --url <base> --platform <code> --secret <whsec> [--seed N] [--months N]
 * [--scale N] [--start YYYY-MM] [--concurrency N] [--progress]` (CONTRACT.md section 4).
 *
 * A pure HTTP client: it needs no database and no configuration, only a running API with the
 * platform registered. The summary (what was sent, what was planted) is the one JSON object on
 * stdout; progress and messages go to stderr.
 */
import { DEFAULT_START, EARLIEST_START } from '../simulate/generator';
import { runSimulation } from '../simulate/run';
import { printJson, say, UsageError } from './output';

export const SIMULATE_USAGE = `retrace simulate --url <base> --platform <code> --secret <whsec_…> [options]

  --url URL           base URL of the Retrace API, e.g. http://127.0.0.1:8080
  --platform CODE     the platform code registered with \`platform add\`
  --secret SECRET     that platform's signing secret (whsec_…)
  --seed N            data set seed, an integer 0–4294967295 (default 1)
  --months N          months of trading, 1–24 (default 3)
  --scale N           volume multiplier, > 0 and ≤ 50 (default 1: about 12,000 events for 3 months)
  --start YYYY-MM     first month, from ${EARLIEST_START} (default ${DEFAULT_START})
  --concurrency N     single events in flight, 1–256 (default 16)
  --progress          draw the progress bar even when stderr is not a terminal`;

type Flags = Record<string, string | boolean | undefined>;

function text(flags: Flags, name: string, required: boolean): string | undefined {
  const v = flags[name];
  if (v === undefined) {
    if (required) throw new UsageError(`--${name} is required\n\n${SIMULATE_USAGE}`);
    return undefined;
  }
  if (typeof v !== 'string' || v.trim() === '')
    throw new UsageError(`--${name} needs a value\n\n${SIMULATE_USAGE}`);
  return v.trim();
}

function integer(flags: Flags, name: string, min: number, max: number, fallback: number): number {
  const v = text(flags, name, false);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${v}"`);
  }
  return Number(v);
}

export interface SimulateArgs {
  url: string;
  platform: string;
  secret: string;
  seed: number;
  months: number;
  scale: number;
  start: string;
  concurrency: number;
  progress: boolean;
}

/** Parses and checks the flags; throws UsageError with a message that says what to fix. */
export function parseSimulateFlags(flags: Flags): SimulateArgs {
  const url = text(flags, 'url', true)!;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--url must be an absolute http(s) URL, got "${url}"`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`--url must be an http or https URL, got "${url}"`);
  }
  if (parsed.search || parsed.hash)
    throw new UsageError('--url must be a base URL without query or fragment');
  const platform = text(flags, 'platform', true)!;
  if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(platform)) {
    throw new UsageError(
      `--platform must be a platform code (lower-case letters, digits, - and _), got "${platform}"`,
    );
  }
  const secret = text(flags, 'secret', true)!;
  if (!/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(secret)) {
    throw new UsageError(
      '--secret must be the platform secret printed by `platform add` (whsec_ followed by base64)',
    );
  }
  const seed = integer(flags, 'seed', 0, 0xffff_ffff, 1);
  const months = integer(flags, 'months', 1, 24, 3);
  const concurrency = integer(flags, 'concurrency', 1, 256, 16);
  const scaleText = text(flags, 'scale', false) ?? '1';
  if (!/^(\d+(\.\d+)?|\.\d+)$/.test(scaleText) || Number(scaleText) <= 0 || Number(scaleText) > 50) {
    throw new UsageError(`--scale must be a number greater than 0 and at most 50, got "${scaleText}"`);
  }
  const start = text(flags, 'start', false) ?? DEFAULT_START;
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(start) || start < EARLIEST_START || start > '2099-12') {
    throw new UsageError(`--start must be a month YYYY-MM from ${EARLIEST_START}, got "${start}"`);
  }
  const progress = flags.progress;
  if (progress !== undefined && typeof progress !== 'boolean') {
    throw new UsageError('--progress takes no value');
  }
  return {
    url: parsed.toString().replace(/\/+$/, ''),
    platform,
    secret,
    seed,
    months,
    scale: Number(scaleText),
    start,
    concurrency,
    progress: progress === true,
  };
}

export async function simulateCommand(flags: Flags): Promise<void> {
  const args = parseSimulateFlags(flags);
  say(
    `simulate: seed ${args.seed}, ${args.months} month(s) from ${args.start}, scale ${args.scale} → ${args.url} as "${args.platform}"`,
  );
  const summary = await runSimulation({
    url: args.url,
    platform: args.platform,
    secret: args.secret,
    seed: args.seed,
    months: args.months,
    scale: args.scale,
    start: args.start,
    concurrency: args.concurrency,
    progress: args.progress,
  });
  say(
    `simulate: ${summary.events} events (${summary.delivery.batches} batches, ${summary.delivery.single_events} single), ` +
      `${summary.accepted} accepted, ${summary.duplicates} duplicates, ${summary.rejected} rejected, ${summary.retries} retries; ` +
      `${summary.planted.length} planted cases in ${summary.seconds} s`,
  );
  for (const s of summary.skipped) say(`simulate: skipped a ${s.rule} case — ${s.reason}`);
  if (summary.rejected > 0) {
    say(`simulate: the server rejected ${summary.rejected} event(s); see "rejections" in the summary`);
    process.exitCode = 1;
  }
  printJson(summary);
}
