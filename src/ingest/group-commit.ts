/**
 * Group commit: requests that arrive within `maxDelayMs` of each other share one database
 * write. Each caller gets its own result (or the shared failure). At low load a request waits
 * at most `maxDelayMs`; at high load one INSERT carries up to `maxItems` rows.
 */
export class GroupCommitter<T, R> {
  private pending: { item: T; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly flushFn: (items: T[]) => Promise<R[]>,
    private readonly opts: { maxDelayMs: number; maxItems: number } = { maxDelayMs: 2, maxItems: 500 },
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
    const group = this.pending;
    this.pending = [];
    if (group.length === 0) return;
    this.flushFn(group.map((g) => g.item)).then(
      (results) => {
        group.forEach((g, i) => {
          g.resolve(results[i]!);
        });
      },
      (err) => {
        for (const g of group) g.reject(err);
      },
    );
  }

  /** Flushes what is waiting (used at shutdown). */
  async drain(): Promise<void> {
    if (this.pending.length > 0) this.flush();
  }
}
