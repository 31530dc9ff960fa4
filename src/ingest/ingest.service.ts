import { isUtf8 } from 'node:buffer';
import type { Redis } from 'ioredis';
import type { Db } from '../db/database';
import { isUnavailableError } from '../db/database';
import { EVENT_TYPES, type FieldError, parseEvent, type RecordIdentity } from '../domain/events';
import { shanghaiTime } from '../domain/time';
import { ProblemError } from '../errors';
import type { Logger } from '../log';
import type { Metrics } from '../ops/metrics';
import type { EventQueues } from '../queue/producer';
import { type NewEvent, type StoreOutcome, storeEvents } from '../repositories/events.repository';
import { type QuarantineEntry, quarantine } from '../repositories/quarantine.repository';
import type { Keyring } from '../security/keys';
import { verify } from '../security/webhook';
import { contentHash, sha256 } from './canonical';
import { GroupCommitter } from './group-commit';
import { parseJsonBytes } from './json-body';
import { type ActivePlatform, MaterialCache, PlatformCache } from './platform-cache';
import { RateLimiter } from './rate-limit';

export const MAX_EVENT_BYTES = 1024 * 1024;
export const MAX_BATCH_BYTES = 16 * 1024 * 1024;
export const MAX_BATCH_LINES = 10_000;
const MAX_EVENT_ID_LENGTH = 200;
const EVENT_ID_PATTERN = /^[\x21-\x7e]{1,200}$/;

export interface IngestDeps {
  db: Db;
  queues: EventQueues;
  redis: Redis;
  redisPrefix: string;
  keyring: Keyring;
  metrics: Metrics;
  log: Logger;
  platformCacheTtlMs?: number;
  /** Test seam for the signature clock; defaults to the wall clock. */
  nowSeconds?: () => number;
  /**
   * Benchmark seam: what a group of single events is written with (defaults to INSERT, then the
   * queue hand-over). bench/ingest-server.ts passes a no-op to measure the path without the
   * database write.
   */
  store?: (events: NewEvent[]) => Promise<StoreOutcome[]>;
}

/**
 * Group commit of single events: requests within 2 ms share one INSERT. (Flushing on
 * setImmediate instead let a request take a pooled connection whose socket PostgreSQL had just
 * closed, before the pool saw the close: node-postgres then emits an 'error' on a checked-out
 * client that nobody listens to, and the process dies — test/http/ingest-durability.test.ts.)
 */
const SINGLE_EVENT_GROUPS = { maxDelayMs: 2, maxItems: 500 };

export interface WebhookHeaders {
  id: string | null;
  timestamp: string | null;
  signature: string | null;
}

export type SingleResult =
  | { status: 202; body: { status: 'accepted'; event_id: string; received_at: string } }
  | { status: 200; body: { status: 'duplicate'; event_id: string } };

export interface BatchLineResult {
  line: number;
  id: string | null;
  status: 'accepted' | 'duplicate' | 'rejected';
  errors?: FieldError[];
  /** A line rejected because its record version is stored with other content (a 409 on its own). */
  record?: { kind: string; key: string; version: number | null };
}

export interface BatchResult {
  batch_id: string;
  accepted: number;
  duplicates: number;
  rejected: number;
  results: BatchLineResult[];
}

type Checked =
  | { ok: true; event: NewEvent; record: RecordIdentity }
  | { ok: false; status: 400; errors: FieldError[]; contentSha256: Buffer };

/**
 * Ingestion: authenticate, validate, store durably (group commit), then hand to the queue.
 * Nothing is acknowledged before PostgreSQL has committed it; nothing authenticated is dropped:
 * what fails validation or conflicts goes to the quarantine with its errors.
 */
export class IngestService {
  readonly platforms: PlatformCache;
  readonly materials: MaterialCache;
  private readonly limiter: RateLimiter;
  private readonly writer: GroupCommitter<NewEvent, StoreOutcome>;
  private readonly now: () => number;

  constructor(private readonly deps: IngestDeps) {
    this.platforms = new PlatformCache(deps.db, deps.keyring, deps.platformCacheTtlMs);
    this.materials = new MaterialCache(deps.db);
    this.limiter = new RateLimiter(deps.redis, deps.redisPrefix);
    this.now = deps.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
    const store = deps.store ?? ((events: NewEvent[]) => this.storeAndEnqueue(events));
    this.writer = new GroupCommitter(store, SINGLE_EVENT_GROUPS);
  }

  /** 403 for an unknown or disabled platform, 401 for a bad signature; then the rate limit. */
  async authenticate(code: string, headers: WebhookHeaders, raw: Buffer): Promise<ActivePlatform> {
    const platform = await this.unavailableAs503(() => this.platforms.get(code));
    if (!platform?.enabled) {
      this.deps.metrics.ingestAuthFailures.inc({ platform: platform ? code : 'unknown', reason: 'platform' });
      throw new ProblemError('forbidden', 'This platform is not registered or is disabled.');
    }
    const v = verify(platform.secrets, headers, raw, this.now());
    if (!v.ok) {
      this.deps.metrics.ingestAuthFailures.inc({ platform: code, reason: v.reason });
      // Deliberately vague: the reason is counted, not told.
      throw new ProblemError(
        'unauthorized',
        v.reason === 'stale_timestamp' || v.reason === 'bad_timestamp'
          ? 'The webhook-timestamp is missing, malformed or outside the allowed window.'
          : 'The request could not be authenticated.',
      );
    }
    const rl = await this.limiter.take(code, platform.rateLimitPerSecond);
    if (!rl.ok) {
      this.deps.metrics.ingestEvents.inc({ platform: code, type: 'any', outcome: 'rate_limited' });
      throw new ProblemError(
        'rate_limited',
        `Platform ${code} is over its limit of ${platform.rateLimitPerSecond} requests per second.`,
        {
          retryAfterSeconds: rl.retryAfterSeconds,
        },
      );
    }
    return platform;
  }

  /** POST /v1/ingest/{platform}/events after authentication. */
  async ingestEvent(
    platform: string,
    headers: WebhookHeaders,
    raw: Buffer,
    receivedAt: Date,
  ): Promise<SingleResult> {
    const eventId = headers.id ?? '';
    const signature = signatureOf(headers);
    const materials = await this.unavailableAs503(() => this.materials.get());
    const checked = this.check(platform, eventId, raw, parseJsonBody(raw), materials, receivedAt, {
      signature,
      batchId: null,
      batchLine: null,
    });
    if (!checked.ok) {
      await this.reject({
        platform,
        eventId,
        batchId: null,
        batchLine: null,
        receivedAt,
        status: 400,
        errors: checked.errors,
        sealedBody: this.seal(raw),
        contentSha256: checked.contentSha256,
        signature,
      });
      this.deps.metrics.ingestEvents.inc({ platform, type: typeOf(raw), outcome: 'rejected' });
      throw new ProblemError(
        'validation',
        'The event is not valid; it was kept in quarantine with these errors.',
        {
          errors: checked.errors,
        },
      );
    }
    const outcome = await this.unavailableAs503(() => this.writer.submit(checked.event));
    this.deps.metrics.ingestEvents.inc({ platform, type: checked.event.eventType, outcome: outcome.status });
    if (outcome.status === 'accepted') {
      return {
        status: 202,
        body: { status: 'accepted', event_id: eventId, received_at: shanghaiTime(receivedAt) },
      };
    }
    if (outcome.status === 'duplicate')
      return { status: 200, body: { status: 'duplicate', event_id: eventId } };
    const detail = conflictDetail(checked.record, outcome);
    await this.reject({
      platform,
      eventId,
      batchId: null,
      batchLine: null,
      receivedAt,
      status: 409,
      errors: [{ pointer: '', message: detail }],
      sealedBody: this.seal(raw),
      contentSha256: checked.event.contentSha256,
      signature,
    });
    throw new ProblemError('conflict', detail, {
      record: { kind: checked.record.kind, key: checked.record.key, version: checked.record.version },
    });
  }

  /** POST /v1/ingest/{platform}/batches after authentication. */
  async ingestBatch(
    platform: string,
    headers: WebhookHeaders,
    raw: Buffer,
    receivedAt: Date,
  ): Promise<BatchResult> {
    const batchId = headers.id ?? '';
    // Lines are cut from the body's bytes, so each line's stored bytes are a view of the body, not
    // a copy. A byte order mark at the start belongs to no line (as when decoding the whole text).
    const first = raw.length >= 3 && raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf ? 3 : 0;
    const ends: number[] = [];
    let pos = first;
    for (let nl = raw.indexOf(10, pos); nl >= 0; nl = raw.indexOf(10, pos)) {
      ends.push(nl);
      pos = nl + 1;
    }
    if (pos < raw.length) ends.push(raw.length);
    const lineCount = ends.length;
    if (lineCount > MAX_BATCH_LINES) {
      throw new ProblemError(
        'payload_too_large',
        `A batch holds at most ${MAX_BATCH_LINES} lines; this one has ${lineCount}.`,
      );
    }
    const materials =
      lineCount > 0 ? await this.unavailableAs503(() => this.materials.get()) : new Set<string>();
    const results: BatchLineResult[] = [];
    // The event type of each result, for the metrics (a known type or 'unknown': a bounded label).
    const lineTypes: string[] = [];
    const toStore: { result: number; raw: Buffer; event: NewEvent; record: RecordIdentity }[] = [];
    const rejected: QuarantineEntry[] = [];
    const origin = { signature: null, batchId, batchLine: 0 };
    for (let i = 0; i < lineCount; i++) {
      const start = i === 0 ? first : ends[i - 1]! + 1;
      let end = ends[i]!;
      if (end > start && raw[end - 1] === 0x0d) end--;
      const lineNo = i + 1;
      const lineRaw = raw.subarray(start, end);
      // Validation is line by line (CONTRACT.md 1.2), UTF-8 too: a bad byte rejects its line only.
      // (A newline byte never occurs inside a UTF-8 sequence, so the lines were cut right.)
      if (!isUtf8(lineRaw)) {
        const e = { pointer: '', message: 'the line is not valid UTF-8' };
        results.push({ line: lineNo, id: null, status: 'rejected', errors: [e] });
        lineTypes.push(typeOf(lineRaw));
        rejected.push(
          this.batchReject(platform, null, batchId, lineNo, receivedAt, [e], lineRaw, sha256(lineRaw)),
        );
        continue;
      }
      const lineText = raw.toString('utf8', start, end);
      if (lineText.trim() === '') continue;
      // Each line is parsed once: its id and its event come from the same JSON value.
      let value: unknown;
      try {
        value = JSON.parse(lineText);
      } catch (err) {
        const e = { pointer: '', message: `the line is not valid JSON: ${(err as Error).message}` };
        results.push({ line: lineNo, id: null, status: 'rejected', errors: [e] });
        lineTypes.push(typeOf(lineRaw));
        rejected.push(
          this.batchReject(platform, null, batchId, lineNo, receivedAt, [e], lineRaw, sha256(lineRaw)),
        );
        continue;
      }
      const id = idOf(value);
      if (typeof id !== 'string') {
        results.push({ line: lineNo, id: null, status: 'rejected', errors: [id] });
        lineTypes.push(typeOf(lineRaw));
        rejected.push(
          this.batchReject(platform, null, batchId, lineNo, receivedAt, [id], lineRaw, sha256(lineRaw)),
        );
        continue;
      }
      origin.batchLine = lineNo;
      const checked = this.check(platform, id, lineRaw, { value }, materials, receivedAt, origin);
      if (!checked.ok) {
        results.push({ line: lineNo, id, status: 'rejected', errors: checked.errors });
        lineTypes.push(typeOf(lineRaw));
        rejected.push(
          this.batchReject(
            platform,
            id,
            batchId,
            lineNo,
            receivedAt,
            checked.errors,
            lineRaw,
            checked.contentSha256,
          ),
        );
        continue;
      }
      toStore.push({ result: results.length, raw: lineRaw, event: checked.event, record: checked.record });
      results.push({ line: lineNo, id, status: 'accepted' });
      lineTypes.push(checked.event.eventType);
    }

    const signature = signatureOf(headers);
    // One transaction: a storage failure stores nothing of the batch (503), so a retry is clean.
    const outcomes = await this.unavailableAs503(() =>
      this.deps.db.transaction().execute(async (trx) => {
        const stored =
          toStore.length > 0
            ? await storeEvents(
                trx,
                toStore.map((s) => s.event),
              )
            : [];
        const conflicts: QuarantineEntry[] = [];
        stored.forEach((o, k) => {
          if (o.status !== 'conflict') return;
          const s = toStore[k]!;
          conflicts.push(
            this.batchReject(
              platform,
              s.event.eventId,
              batchId,
              s.event.batchLine!,
              receivedAt,
              [{ pointer: '', message: conflictDetail(s.record, o) }],
              // The line's bytes (sealed once by batchReject), not the already sealed body.
              s.raw,
              s.event.contentSha256,
              409, // kept as what it is, a conflict, as a single event's would be
            ),
          );
        });
        await quarantine(trx, [...rejected, ...conflicts]);
        const counts = { accepted: 0, duplicates: 0, rejected: rejected.length + conflicts.length };
        for (const o of stored) {
          if (o.status === 'accepted') counts.accepted++;
          else if (o.status === 'duplicate') counts.duplicates++;
        }
        await trx
          .insertInto('ingest_batches')
          .values({
            platform,
            batch_id: batchId,
            received_at: receivedAt,
            body_sha256: sha256(raw),
            raw_body: this.seal(raw),
            signature: JSON.stringify(signature),
            line_count: lineCount,
            accepted: counts.accepted,
            duplicates: counts.duplicates,
            rejected: counts.rejected,
          })
          .execute();
        return stored;
      }),
    );

    const accepted: { platform: string; eventId: string }[] = [];
    outcomes.forEach((o, k) => {
      const s = toStore[k]!;
      const r = results[s.result]!;
      if (o.status === 'accepted') accepted.push({ platform, eventId: o.eventId });
      else if (o.status === 'duplicate') r.status = 'duplicate';
      else {
        r.status = 'rejected';
        r.errors = [{ pointer: '', message: conflictDetail(s.record, o) }];
        r.record = { kind: s.record.kind, key: s.record.key, version: s.record.version };
      }
    });
    await this.enqueue(accepted);
    const summary = { accepted: 0, duplicates: 0, rejected: 0 };
    for (const r of results) {
      if (r.status === 'accepted') summary.accepted++;
      else if (r.status === 'duplicate') summary.duplicates++;
      else summary.rejected++;
    }
    // Counted by event type and outcome, as single events are (a conflict as `conflict`).
    const counts = new Map<string, number>();
    results.forEach((r, i) => {
      const outcome = r.record ? 'conflict' : r.status;
      const k = `${lineTypes[i]}\u0000${outcome}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    });
    for (const [k, n] of counts) {
      const [type, outcome] = k.split('\u0000') as [string, string];
      this.deps.metrics.ingestEvents.inc({ platform, type, outcome }, n);
    }
    return { batch_id: batchId, ...summary, results };
  }

  /**
   * Validates the stored bytes of a quarantined event again (with today's catalog) and stores it
   * when it now passes. The original receipt time is kept.
   */
  async replay(entry: {
    platform: string;
    eventId: string | null;
    batchId: string | null;
    batchLine: number | null;
    receivedAt: Date;
    rawBody: Buffer;
    signature: Record<string, string> | null;
  }): Promise<{ outcome: 'accepted' | 'duplicate' | 'still_invalid' | 'conflict'; errors?: FieldError[] }> {
    let eventId = entry.eventId;
    if (entry.batchId !== null) {
      const id = lineId(entry.rawBody.toString('utf8'));
      if (typeof id !== 'string') return { outcome: 'still_invalid', errors: [id] };
      eventId = id;
    }
    const materials = await this.unavailableAs503(() => this.materials.get());
    const checked = this.check(
      entry.platform,
      eventId ?? '',
      entry.rawBody,
      parseJsonBody(entry.rawBody),
      materials,
      entry.receivedAt,
      { signature: entry.signature, batchId: entry.batchId, batchLine: entry.batchLine },
    );
    if (!checked.ok) return { outcome: 'still_invalid', errors: checked.errors };
    const [outcome] = await storeEvents(this.deps.db, [checked.event]);
    if (outcome!.status === 'conflict') {
      return {
        outcome: 'conflict',
        errors: [{ pointer: '', message: conflictDetail(checked.record, outcome!) }],
      };
    }
    if (outcome!.status === 'accepted')
      await this.enqueue([{ platform: entry.platform, eventId: checked.event.eventId }]);
    return { outcome: outcome!.status };
  }

  async close(): Promise<void> {
    await this.writer.drain();
  }

  /**
   * Validation of one event whose JSON was already parsed (or failed to parse): synchronous, so a
   * batch of 10,000 lines runs without a turn of the event loop per line.
   */
  private check(
    platform: string,
    eventId: string,
    raw: Buffer,
    json: { value: unknown } | { error: string },
    materials: ReadonlySet<string>,
    receivedAt: Date,
    origin: { signature: Record<string, string> | null; batchId: string | null; batchLine: number | null },
  ): Checked {
    const bad = (errors: FieldError[]): Checked => ({
      ok: false,
      status: 400,
      errors,
      contentSha256: sha256(raw),
    });
    if (!EVENT_ID_PATTERN.test(eventId)) {
      return bad([
        {
          pointer: origin.batchId === null ? '' : '/id',
          message: `the event id (webhook-id, or "id" of a batch line) must be 1–${MAX_EVENT_ID_LENGTH} printable ASCII characters`,
        },
      ]);
    }
    if ('error' in json) return bad([{ pointer: '', message: json.error }]);
    const body = json.value;
    const parsed = parseEvent(body, { materials }, '', raw);
    if (!parsed.ok) return bad(parsed.errors);
    const { event, record } = parsed;
    return {
      ok: true,
      record,
      event: {
        platform,
        eventId,
        eventType: event.type,
        eventTs: new Date(event.timestamp),
        recordKind: record.kind,
        recordKey: record.key,
        recordVersion: record.version,
        contentSha256: contentHash(event.type, (body as { data: unknown }).data),
        sealedBody: this.seal(raw),
        signature: origin.signature,
        batchId: origin.batchId,
        batchLine: origin.batchLine,
        receivedAt,
      },
    };
  }

  private batchReject(
    platform: string,
    eventId: string | null,
    batchId: string,
    batchLine: number,
    receivedAt: Date,
    errors: FieldError[],
    rawBody: Buffer,
    contentSha256: Buffer,
    status: 400 | 409 = 400,
  ): QuarantineEntry {
    return {
      platform,
      eventId,
      batchId,
      batchLine,
      receivedAt,
      status,
      errors,
      sealedBody: this.seal(rawBody),
      contentSha256,
      signature: null,
    };
  }

  /** Raw bodies are kept encrypted at rest: they carry id numbers and bank account numbers. */
  private seal(raw: Buffer): Buffer {
    return this.deps.keyring.encryptBytes('event-bodies', raw);
  }

  private async reject(entry: QuarantineEntry): Promise<void> {
    await this.unavailableAs503(() => quarantine(this.deps.db, [entry]));
  }

  private async storeAndEnqueue(events: NewEvent[]): Promise<StoreOutcome[]> {
    const outcomes = await storeEvents(this.deps.db, events);
    const accepted = outcomes.flatMap((o, i) =>
      o.status === 'accepted' ? [{ platform: events[i]!.platform, eventId: events[i]!.eventId }] : [],
    );
    await this.enqueue(accepted);
    return outcomes;
  }

  /**
   * After commit. If Redis is down the events stay 'pending' in PostgreSQL and the worker's
   * sweep hands them over later, so a failure here is logged, never returned to the client.
   */
  private async enqueue(keys: { platform: string; eventId: string }[]): Promise<void> {
    if (keys.length === 0) return;
    try {
      await withTimeout(this.deps.queues.enqueue(keys), 1_000);
    } catch (err) {
      this.deps.log.warn(
        { err: (err as Error).message, events: keys.length },
        'enqueue failed; the sweep will hand these over',
      );
    }
  }

  private async unavailableAs503<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isUnavailableError(err)) {
        throw new ProblemError('unavailable', 'Storage is unavailable; nothing was stored. Retry later.', {
          retryAfterSeconds: 5,
        });
      }
      throw err;
    }
  }
}

function signatureOf(h: WebhookHeaders): Record<string, string> {
  return {
    'webhook-id': h.id ?? '',
    'webhook-timestamp': h.timestamp ?? '',
    'webhook-signature': h.signature ?? '',
  };
}

/** A single event's body (or a stored line, on replay): UTF-8 (fatal) and JSON. */
function parseJsonBody(raw: Buffer): { value: unknown } | { error: string } {
  try {
    return { value: parseJsonBytes(raw) };
  } catch (err) {
    return { error: `the body is not valid JSON: ${(err as Error).message}` };
  }
}

function lineId(lineText: string): string | FieldError {
  let obj: unknown;
  try {
    obj = JSON.parse(lineText);
  } catch (err) {
    return { pointer: '', message: `the line is not valid JSON: ${(err as Error).message}` };
  }
  return idOf(obj);
}

/** The "id" of a batch line's JSON value. */
function idOf(obj: unknown): string | FieldError {
  const id = (obj as { id?: unknown } | null)?.id;
  if (typeof id !== 'string' || !EVENT_ID_PATTERN.test(id)) {
    return {
      pointer: '/id',
      message: `"id" must be a string of 1–${MAX_EVENT_ID_LENGTH} printable ASCII characters`,
    };
  }
  return id;
}

function typeOf(raw: Buffer): string {
  const m = /"type"\s*:\s*"([a-z]+\.[a-z]+)"/.exec(raw.subarray(0, 4096).toString('utf8'));
  // Only known types become metric labels: label values must stay a small, fixed set.
  return m && (EVENT_TYPES as readonly string[]).includes(m[1]!) ? m[1]! : 'unknown';
}

function conflictDetail(record: RecordIdentity, o: StoreOutcome): string {
  if (o.status === 'conflict' && o.reason === 'event_id_reused') {
    return `event id ${o.eventId} was already accepted with different content`;
  }
  const version = record.version === null ? '' : ` version ${record.version}`;
  return `record ${record.kind} ${record.key}${version} is already stored with different content`;
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
