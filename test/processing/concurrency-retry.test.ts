import { describe, expect, it } from 'vitest';
import { CONCURRENCY_RETRIES, withConcurrencyRetry } from '../../src/processing/events';

/** A batch that lost a race to another worker runs again as a whole; real failures do not. */
const pgError = (code: string) => Object.assign(new Error(`pg ${code}`), { code });

describe('withConcurrencyRetry', () => {
  it('runs a batch again after a deadlock, a serialization failure or a raced unique key', async () => {
    for (const code of ['40P01', '40001', '23505']) {
      let calls = 0;
      const r = await withConcurrencyRetry(async () => {
        calls++;
        if (calls < 3) throw pgError(code);
        return 'done';
      });
      expect(r).toBe('done');
      expect(calls).toBe(3);
    }
  });

  it('gives up after CONCURRENCY_RETRIES more attempts, with the last error', async () => {
    let calls = 0;
    await expect(
      withConcurrencyRetry(async () => {
        calls++;
        throw pgError('40P01');
      }),
    ).rejects.toThrow('pg 40P01');
    expect(calls).toBe(CONCURRENCY_RETRIES + 1);
  });

  it('does not retry any other error', async () => {
    let calls = 0;
    await expect(
      withConcurrencyRetry(async () => {
        calls++;
        throw pgError('22P02');
      }),
    ).rejects.toThrow('pg 22P02');
    await expect(
      withConcurrencyRetry(async () => {
        calls++;
        throw new Error('bad event');
      }),
    ).rejects.toThrow('bad event');
    expect(calls).toBe(2);
  });
});
