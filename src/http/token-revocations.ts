import pg from 'pg';
import type { Logger } from '../log';
import { OFFICER_TOKENS_CHANNEL } from '../repositories/officers.repository';
import { PLATFORMS_CHANNEL } from '../repositories/platforms.repository';

/**
 * Tells an API process at once when officer tokens or platforms change elsewhere. `rotateOfficerToken` and
 * `setOfficerStatus` (src/repositories/officers.repository.ts) send a PostgreSQL NOTIFY on
 * OFFICER_TOKENS_CHANNEL inside their transaction, so it is delivered when they commit; each API
 * process LISTENs on its own connection and empties its token cache (src/http/auth.ts). The
 * platform commands (src/repositories/platforms.repository.ts) notify PLATFORMS_CHANNEL the same
 * way, and the ingest's platform cache empties (src/ingest/platform-cache.ts).
 *
 * While the connection is down nothing would be heard, so `listening` is false and the cache
 * must not be used: every request asks the database, as it would without a cache. On reconnect
 * the cache is emptied first (a change may have been missed meanwhile).
 */
export class TokenRevocations {
  private client: pg.Client | null = null;
  private readonly subscribers = new Set<() => void>();
  private readonly platformSubscribers = new Set<() => void>();
  private retry: NodeJS.Timeout | null = null;
  private closed = false;
  private _listening = false;

  constructor(
    private readonly connectionString: string,
    private readonly log?: Pick<Logger, 'info' | 'warn'>,
    private readonly reconnectMs = 1_000,
  ) {}

  /** True while changes are being heard: only then may a verified token be reused. */
  get listening(): boolean {
    return this._listening;
  }

  /** Calls `fn` on every change, and whenever listening stops or starts again. */
  onChange(fn: () => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  /** Calls `fn` on every platform change, and whenever listening stops or starts again. */
  onPlatformChange(fn: () => void): () => void {
    this.platformSubscribers.add(fn);
    return () => this.platformSubscribers.delete(fn);
  }

  /** Connects and listens; resolves once listening (or after the first failure, retrying behind). */
  async start(): Promise<void> {
    this.closed = false;
    await this.connect();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    this.setListening(false);
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString });
    const lost = (err?: Error) => {
      if (this.client !== client) return;
      this.client = null;
      this.setListening(false);
      client.end().catch(() => undefined);
      if (this.closed) return;
      this.log?.warn(
        { err: err?.message },
        'officer token notifications lost; tokens checked on every request',
      );
      this.scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (n) => {
      if (n.channel === OFFICER_TOKENS_CHANNEL) for (const fn of this.subscribers) fn();
      else if (n.channel === PLATFORMS_CHANNEL) for (const fn of this.platformSubscribers) fn();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${OFFICER_TOKENS_CHANNEL}; LISTEN ${PLATFORMS_CHANNEL}`);
    } catch (err) {
      client.end().catch(() => undefined);
      if (!this.closed) {
        this.log?.warn({ err: (err as Error).message }, 'cannot listen for officer token changes; retrying');
        this.scheduleReconnect();
      }
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.setListening(true);
  }

  private scheduleReconnect(): void {
    if (this.retry || this.closed) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      void this.connect();
    }, this.reconnectMs);
    this.retry.unref();
  }

  private setListening(on: boolean): void {
    this._listening = on;
    // Empty the caches on both edges: before listening, a change may have gone unheard.
    this.notify();
  }

  /** Both edges of listening: every cache empties (a change may have gone unheard). */
  private notify(): void {
    for (const fn of this.subscribers) fn();
    for (const fn of this.platformSubscribers) fn();
  }
}
