export interface GroupCommitOptions {
  /** How long the first item of a group waits for company. */
  maxDelayMs: number;
  /** A group is written at once when it reaches this size. */
  maxItems: number;
  /**
   * Groups being written at the same time. With 1, writes are serial and everything that
   * arrives meanwhile forms the next group: right for an append that is serialised anyway (the
   * audit log's hash chain), where parallel writes would only hold connections waiting on a lock.
   */
  maxInFlight?: number;
}

/**
 * Group commit: requests that arrive within `maxDelayMs` of each other share one database
 * write. Each caller gets its own result (or the shared failure). At low load a request waits
 * at most `maxDelayMs`; at high load one write carries up to `maxItems` rows.
 */
export class GroupCommitter<T, R> {
  private pending: { item: T; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private inFlight = 0;

  constructor(
    private readonly flushFn: (items: T[]) => Promise<R[]>,
    private readonly opts: GroupCommitOptions = { maxDelayMs: 2, maxItems: 500 },
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length >= this.opts.maxItems) this.flush();
      else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.opts.maxDelayMs);
    });
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    // At the in-flight limit the group keeps growing; the write in progress flushes it when done.
    if (this.inFlight >= (this.opts.maxInFlight ?? Number.POSITIVE_INFINITY)) return;
    const group = this.pending.splice(0, this.opts.maxItems);
    if (group.length === 0) return;
    this.inFlight++;
    this.flushFn(group.map((g) => g.item))
      .then(
        (results) => {
          group.forEach((g, i) => {
            g.resolve(results[i]!);
          });
        },
        (err) => {
          for (const g of group) g.reject(err);
        },
      )
      .finally(() => {
        this.inFlight--;
        if (this.pending.length > 0) this.flush();
      });
  }

  /** Flushes what is waiting (used at shutdown). */
  async drain(): Promise<void> {
    if (this.pending.length > 0) this.flush();
  }
}
