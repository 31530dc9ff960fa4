import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * Paths that must never reach a log line: secrets, tokens, id numbers and bank account numbers.
 * Request bodies are never logged whole for the same reason.
 */
const REDACT = [
  'secret',
  '*.secret',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers["webhook-signature"]',
  'id_number',
  '*.id_number',
  '*.*.id_number',
  'account_no',
  '*.account_no',
  '*.*.account_no',
  'masterKey',
  '*.masterKey',
];

/**
 * JSON lines on stdout for the servers; on stderr for the command line (`role: 'cli'`), whose
 * stdout carries only the one JSON object a script reads (CONTRACT.md 4).
 */
export function createLogger(level = 'info', base: Record<string, unknown> = {}): Logger {
  return pino(
    {
      level,
      base: { service: 'retrace', ...base },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    base.role === 'cli' ? pino.destination({ dest: 2, sync: true }) : undefined,
  );
}
