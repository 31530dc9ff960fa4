import { randomUUID } from 'node:crypto';
import { secretBytes, sign } from '../security/webhook';

export interface Envelope {
  type: string;
  timestamp: string;
  data: unknown;
}

/** What the client needs from its environment; tests pass their own. */
export interface ClientOptions {
  /** Attempts after the first on 429, 503 and network errors (default 20). */
  maxRetries?: number;
  /** Defaults to the global fetch. */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
  /** Defaults to setTimeout. */
  sleep?: (ms: number) => Promise<void>;
  /** Unix seconds for `webhook-timestamp`; defaults to the system clock. */
  now?: () => number;
}

export interface SendStats {
  sent: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  retries: number;
}

/**
 * A trading platform's side of the contract: signs with the platform secret (Standard
 * Webhooks), sends single events or NDJSON batches, and retries 429 and 503 after Retry-After.
 */
export class PlatformClient {
  readonly stats: SendStats = { sent: 0, accepted: 0, duplicates: 0, rejected: 0, retries: 0 };
  private readonly key: Buffer;

  constructor(
    private readonly baseUrl: string,
    private readonly platform: string,
    secret: string,
    private readonly opts: ClientOptions = {},
  ) {
    this.key = secretBytes(secret);
  }

  async sendEvent(event: Envelope, id = `msg_${randomUUID()}`): Promise<{ status: number; body: unknown }> {
    const body = Buffer.from(JSON.stringify(event));
    const res = await this.post(`/v1/ingest/${this.platform}/events`, body, 'application/json', id);
    this.stats.sent += 1;
    if (res.status === 202) this.stats.accepted += 1;
    else if (res.status === 200) this.stats.duplicates += 1;
    else this.stats.rejected += 1;
    return res;
  }

  async sendBatch(
    events: readonly (Envelope & { id: string })[],
    batchId = `batch_${randomUUID()}`,
  ): Promise<{
    accepted: number;
    duplicates: number;
    rejected: number;
    results: { line: number; id?: string; status: string; errors?: unknown }[];
  }> {
    const body = Buffer.from(`${events.map((e) => JSON.stringify(e)).join('\n')}\n`);
    const res = await this.post(`/v1/ingest/${this.platform}/batches`, body, 'application/x-ndjson', batchId);
    if (res.status !== 200)
      throw new Error(`batch ${batchId} failed with ${res.status}: ${JSON.stringify(res.body)}`);
    const out = res.body as {
      accepted: number;
      duplicates: number;
      rejected: number;
      results: { line: number; id?: string; status: string; errors?: unknown }[];
    };
    this.stats.sent += events.length;
    this.stats.accepted += out.accepted;
    this.stats.duplicates += out.duplicates;
    this.stats.rejected += out.rejected;
    return out;
  }

  private async post(
    path: string,
    body: Buffer,
    contentType: string,
    id: string,
  ): Promise<{ status: number; body: unknown }> {
    const maxRetries = this.opts.maxRetries ?? 20;
    const doFetch = this.opts.fetch ?? fetch;
    const wait = this.opts.sleep ?? sleep;
    for (let attempt = 0; ; attempt++) {
      // Re-signed on every attempt: the timestamp must stay within the server's tolerance.
      const ts = this.opts.now?.() ?? Math.floor(Date.now() / 1000);
      let res: Response;
      try {
        res = await doFetch(`${this.baseUrl}${path}`, {
          method: 'POST',
          body,
          headers: {
            'content-type': contentType,
            'webhook-id': id,
            'webhook-timestamp': String(ts),
            'webhook-signature': sign(this.key, id, ts, body),
          },
        });
      } catch (err) {
        if (attempt >= maxRetries) throw err;
        this.stats.retries += 1;
        await wait(Math.min(500 * 2 ** attempt, 5_000));
        continue;
      }
      if ((res.status === 429 || res.status === 503) && attempt < maxRetries) {
        this.stats.retries += 1;
        const after = retryAfterSeconds(res.headers.get('retry-after'));
        await res.arrayBuffer();
        await wait(Math.max(1, Math.min(after, 30)) * 1000 * (res.status === 429 ? 1 : 1 + attempt / 4));
        continue;
      }
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // keep the text
      }
      return { status: res.status, body: parsed };
    }
  }
}

/** Retry-After as delta-seconds or an HTTP date (RFC 9110 10.2.3); 1 s when absent or unreadable. */
export function retryAfterSeconds(value: string | null): number {
  if (value === null) return 1;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? 1 : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
