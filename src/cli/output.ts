import { addMonths } from '../domain/rules/types';

/** CLI conventions (CONTRACT.md section 4): one JSON object on stdout, messages on stderr. */
export function printJson(value: unknown): void {
  process.stdout.write(
    `${JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Buffer ? v.toString('base64') : v), 2)}\n`,
  );
}

export function say(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** The command line was wrong (an unknown flag, a missing value…): exit 2, with the usage. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * A well-formed command that cannot be carried out — no such platform, officer, trade or
 * quarantined event; one that exists already: exit 1 with the message (no usage: it was right).
 */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

/** `--limit N` of the list commands: a whole number from 1 to 10,000 (100 when not given). */
export function limitFlag(value: string | undefined, fallback = 100): number {
  if (value === undefined) return fallback;
  const n = /^\d{1,5}$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= 1 && n <= 10_000))
    throw new UsageError(`--limit must be a whole number from 1 to 10000, not "${value}"`);
  return n;
}

/**
 * `--from YYYY-MM` (or that month's first day) as the month's first day, for what applies by whole
 * months; `why` says why (a date past the 1st is refused, not moved to a month).
 */
export function monthStartFlag(from: string | undefined, why: string): string {
  const m = from === undefined ? null : /^(\d{4})-(0[1-9]|1[0-2])(?:-(\d{2}))?$/.exec(from);
  if (!m) {
    throw new UsageError(
      `--from YYYY-MM is required: ${from === undefined ? 'missing' : `"${from}" is not a month`}`,
    );
  }
  const month = `${m[1]}-${m[2]}`;
  if (m[3] !== undefined && m[3] !== '01') {
    throw new UsageError(
      `--from ${from}: ${why}, so a version applies from a month's first day (--from ${month}, or ${addMonths(month, 1)} for the next month)`,
    );
  }
  return `${month}-01`;
}
