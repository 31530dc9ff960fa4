import { describe, expect, it } from 'vitest';
import { Coalescer } from '../../src/http/coalesce';

/** A run we finish by hand: which calls it served, and when it started. */
function harness() {
  const runs: { started: number; finish: (v: string) => void; fail: (e: Error) => void }[] = [];
  let clock = 0;
  const fn = () =>
    new Promise<string>((resolve, reject) => {
      runs.push({ started: clock, finish: resolve, fail: reject });
    });
  return { runs, fn, tick: () => ++clock, now: () => clock };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('Coalescer (shared reference-sheet runs)', () => {
  it('callers during a run share the NEXT run, which starts after all of them called', async () => {
    const c = new Coalescer<string>();
    const h = harness();
    const first = c.run('k', h.fn);
    h.tick();
    const calledAt = h.now();
    const second = c.run('k', h.fn);
    const third = c.run('k', h.fn);
    expect(h.runs).toHaveLength(1); // the second run waits for the first
    h.runs[0]!.finish('one');
    expect(await first).toBe('one');
    await settle();
    expect(h.runs).toHaveLength(2);
    expect(h.runs[1]!.started).toBeGreaterThanOrEqual(calledAt);
    h.runs[1]!.finish('two');
    expect(await second).toBe('two');
    expect(await third).toBe('two');
    // Nothing is kept: a later call runs again.
    const fourth = c.run('k', h.fn);
    expect(h.runs).toHaveLength(3);
    h.runs[2]!.finish('three');
    expect(await fourth).toBe('three');
  });

  it('different keys run independently; a failure rejects only the callers that shared it', async () => {
    const c = new Coalescer<string>();
    const h = harness();
    const a = c.run('a', h.fn);
    const b = c.run('b', h.fn);
    expect(h.runs).toHaveLength(2);
    const a2 = c.run('a', h.fn);
    h.runs[0]!.fail(new Error('db down'));
    await expect(a).rejects.toThrow('db down');
    await settle();
    expect(h.runs).toHaveLength(3); // the queued caller still gets its own run
    h.runs[2]!.finish('a again');
    h.runs[1]!.finish('b');
    expect(await a2).toBe('a again');
    expect(await b).toBe('b');
  });
});
