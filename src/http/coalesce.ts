/**
 * Shares one run of an expensive read among concurrent requests for the same key — without ever
 * answering a request with data read before it arrived.
 *
 * A caller joins the next run that has not started yet, or starts one; while a run is in progress,
 * new callers queue for the run after it (one run for all of them). So every caller gets the result
 * of a run that began after its own call: the answer is exactly as fresh as running the read for
 * that caller alone, and N officers opening the same reference sheet at once cost one or two runs
 * instead of N. This is no cache: nothing is kept once a run has been handed out.
 *
 * A failed run rejects every caller that shared it; the next caller starts afresh.
 */
export class Coalescer<T> {
  private readonly running = new Map<string, Promise<T>>();
  private readonly queued = new Map<string, Promise<T>>();

  run(key: string, fn: () => Promise<T>): Promise<T> {
    const queued = this.queued.get(key);
    if (queued) return queued;
    const current = this.running.get(key);
    if (!current) return this.start(key, fn);
    const next = current.then(
      () => undefined,
      () => undefined,
    );
    const p = next.then(() => {
      this.queued.delete(key);
      return this.start(key, fn);
    });
    this.queued.set(key, p);
    return p;
  }

  private start(key: string, fn: () => Promise<T>): Promise<T> {
    const p = fn();
    this.running.set(key, p);
    const done = () => {
      if (this.running.get(key) === p) this.running.delete(key);
    };
    p.then(done, done);
    return p;
  }
}
