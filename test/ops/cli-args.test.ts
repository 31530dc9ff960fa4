import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

/** Runs the command line; resolves with its exit code and output whatever the code. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
      env: { ...process.env, NODE_ENV: 'test' },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

// A mistyped command line is refused with the usage (exit 2) before anything is done: nothing is
// created half-right, and stdout stays empty for the script that reads it.
describe('command-line flags', () => {
  it.each([
    [
      ['officer', 'add', 'bob', '--role', 'officer', '--divisions', '440703,', '440704'],
      /unexpected argument "440704"/,
    ],
    [
      ['officer', 'add', 'bob', '--role', 'officer', '--divisions', '440703', '--pi'],
      /Unknown option '--pi'/,
    ],
    [
      ['officer', 'add', 'bob', '--role', 'officer', '--divisions', '440703', '--pii=yes'],
      /does not take an argument/,
    ],
    [['platform', 'add', 'acme', '--name'], /argument missing/],
    [['platform', 'add', 'acme', '--name', '--rate-limit', '5'], /ambiguous/],
    [['quarantine', 'list', '--limit', '-5'], /ambiguous/],
    [['migrate', 'now'], /unexpected argument "now"/],
  ])('%j is a usage error', async (args, message) => {
    const r = await cli(...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });
});
