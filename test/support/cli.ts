import { vi } from 'vitest';
import type { AnyJson } from './context';

/**
 * Runs a CLI command's function in this process and returns the JSON object it printed on stdout
 * (CONTRACT.md section 4: one JSON object on stdout); what it says on stderr is swallowed. A
 * command that throws rejects, with nothing returned.
 */
export async function cliJson(fn: () => Promise<void>): Promise<AnyJson> {
  const writes: string[] = [];
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    writes.push(String(chunk));
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await fn();
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  return JSON.parse(writes.join(''));
}
