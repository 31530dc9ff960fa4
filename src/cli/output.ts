/** CLI conventions (CONTRACT.md section 4): one JSON object on stdout, messages on stderr. */
export function printJson(value: unknown): void {
  process.stdout.write(
    `${JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Buffer ? v.toString('base64') : v), 2)}\n`,
  );
}

export function say(message: string): void {
  process.stderr.write(`${message}\n`);
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
