/**
 * The ingest benchmark's baseline: the API exactly as `retrace serve api` builds it (createApp,
 * @hono/node-server, same middleware and routes), except that the ingestion service stores
 * nothing. IngestService has no seam to inject its store (its group-commit writer and `check`
 * are private), so this file composes the same pieces it uses, in the same order:
 *
 *   platform cache → Standard Webhooks verify → Redis rate limit → event id check → UTF-8 + JSON
 *   → material cache → parseEvent → content hash → seal (AES-GCM) → GroupCommitter (2 ms /
 *   500 items) whose flush answers 'accepted' without touching PostgreSQL or the queue.
 *
 * What differs from the durable path is therefore the INSERT … unnest … ON CONFLICT and the
 * BullMQ hand-over after commit. (A constructor option `store?: (events) => Promise<StoreOutcome[]>`
 * on IngestService would let this file reuse the real class instead.)
 *
 * Run by bench/ingest.ts as a child process: `node --import tsx bench/ingest-server.ts` with the
 * usual environment (DATABASE_URL, REDIS_URL, REDIS_PREFIX, RETRACE_MASTER_KEY, PORT).
 */
import { serve } from '@hono/node-server';
import { loadConfig } from '../src/config';
import { parseEvent } from '../src/domain/events';
import { ProblemError } from '../src/errors';
import { createApp } from '../src/http/create-app';
import { contentHash } from '../src/ingest/canonical';
import { GroupCommitter } from '../src/ingest/group-commit';
import type { BatchResult, IngestService, SingleResult, WebhookHeaders } from '../src/ingest/ingest.service';
import { type ActivePlatform, MaterialCache, PlatformCache } from '../src/ingest/platform-cache';
import { RateLimiter } from '../src/ingest/rate-limit';
import type { NewEvent, StoreOutcome } from '../src/repositories/events.repository';
import { createRuntime, type Runtime } from '../src/runtime';
import { verify } from '../src/security/webhook';

const EVENT_ID_PATTERN = /^[\x21-\x7e]{1,200}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

class NoDatabaseIngest {
  private readonly platforms: PlatformCache;
  private readonly materials: MaterialCache;
  private readonly limiter: RateLimiter;
  private readonly writer: GroupCommitter<NewEvent, StoreOutcome>;

  constructor(private readonly rt: Runtime) {
    this.platforms = new PlatformCache(rt.db, rt.keyring);
    this.materials = new MaterialCache(rt.db);
    this.limiter = new RateLimiter(rt.queues.redis, rt.config.redisPrefix);
    // The no-op store: every event "accepted", nothing written, nothing enqueued.
    this.writer = new GroupCommitter<NewEvent, StoreOutcome>(
      async (events) => events.map((e) => ({ status: 'accepted', eventId: e.eventId })),
      {
        maxDelayMs: 2,
        maxItems: 500,
      },
    );
  }

  async authenticate(code: string, headers: WebhookHeaders, raw: Buffer): Promise<ActivePlatform> {
    const platform = await this.platforms.get(code);
    if (!platform?.enabled)
      throw new ProblemError('forbidden', 'This platform is not registered or is disabled.');
    const v = verify(platform.secrets, headers, raw, Math.floor(Date.now() / 1000));
    if (!v.ok) {
      this.rt.metrics.ingestAuthFailures.inc({ platform: code, reason: v.reason });
      throw new ProblemError('unauthorized', 'The request could not be authenticated.');
    }
    const rl = await this.limiter.take(code, platform.rateLimitPerSecond);
    if (!rl.ok) throw new ProblemError('rate_limited', 'over the limit', { retryAfterSeconds: 1 });
    return platform;
  }

  async ingestEvent(
    platform: string,
    headers: WebhookHeaders,
    raw: Buffer,
    receivedAt: Date,
  ): Promise<SingleResult> {
    const eventId = headers.id ?? '';
    if (!EVENT_ID_PATTERN.test(eventId)) throw new ProblemError('validation', 'bad event id');
    let body: unknown;
    try {
      body = JSON.parse(utf8.decode(raw));
    } catch {
      throw new ProblemError('validation', 'not JSON');
    }
    const materials = await this.materials.get();
    const parsed = parseEvent(body, { materials }, '');
    if (!parsed.ok) throw new ProblemError('validation', 'invalid', { errors: parsed.errors });
    const { event, record } = parsed;
    const outcome = await this.writer.submit({
      platform,
      eventId,
      eventType: event.type,
      eventTs: new Date(event.timestamp),
      recordKind: record.kind,
      recordKey: record.key,
      recordVersion: record.version,
      contentSha256: contentHash(event.type, (body as { data: unknown }).data),
      sealedBody: this.rt.keyring.encryptBytes('event-bodies', raw),
      signature: {
        'webhook-id': headers.id ?? '',
        'webhook-timestamp': headers.timestamp ?? '',
        'webhook-signature': headers.signature ?? '',
      },
      batchId: null,
      batchLine: null,
      receivedAt,
    });
    this.rt.metrics.ingestEvents.inc({ platform, type: event.type, outcome: outcome.status });
    return {
      status: 202,
      body: { status: 'accepted', event_id: eventId, received_at: receivedAt.toISOString() },
    };
  }

  async ingestBatch(): Promise<BatchResult> {
    throw new ProblemError('not_found', 'The baseline server takes single events only.');
  }

  async close(): Promise<void> {
    await this.writer.drain();
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  const rt = createRuntime(config, 'api');
  const ingest = new NoDatabaseIngest(rt);
  const app = createApp({
    db: rt.db,
    queues: rt.queues,
    // The routes only call authenticate / ingestEvent / ingestBatch (src/http/routes/ingest).
    ingest: ingest as unknown as IngestService,
    metrics: rt.metrics,
    log: rt.log,
    keyring: rt.keyring,
    redisPrefix: config.redisPrefix,
  });
  const server = serve({ fetch: app.fetch, port: config.port, hostname: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  process.stdout.write(`baseline API listening on 127.0.0.1:${config.port}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  server.close();
  await ingest.close();
  await rt.close();
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
