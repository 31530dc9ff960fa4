import type { IncomingMessage } from 'node:http';
import { z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { eventSchema } from '../../../domain/events';
import {
  type IngestService,
  MAX_BATCH_BYTES,
  MAX_EVENT_BYTES,
  type WebhookHeaders,
} from '../../../ingest/ingest.service';
import type { App } from '../../app';
import { nodeIncoming, requestHeader } from '../../node-request';
import {
  fieldErrorSchema,
  ProblemError,
  problemResponse as problemDoc,
  retryAfterHeader,
} from '../../problems';

const platformParam = z.object({
  platform: z
    .string()
    .openapi({ param: { name: 'platform', in: 'path' }, example: 'jmrr', description: 'Platform code' }),
});

const signatureHeaders = z.object({
  'webhook-id': z
    .string()
    .openapi({ example: 'msg_2mN0p4cQ', description: 'Unique delivery id; the idempotency key' }),
  'webhook-timestamp': z
    .string()
    .openapi({ example: '1790000000', description: 'Unix seconds; at most 300 s from server time' }),
  'webhook-signature': z.string().openapi({
    example: 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=',
    description: 'Space-separated `v1,<base64 HMAC-SHA256>` signatures',
  }),
});

const acceptedSchema = z
  .object({
    status: z.literal('accepted'),
    event_id: z.string(),
    received_at: z.string().openapi({
      description: 'When it was received: RFC 3339 in Asia/Shanghai time',
      example: '2026-10-02T08:15:03.120+08:00',
    }),
  })
  .openapi('IngestAccepted');
const duplicateSchema = z
  .object({ status: z.literal('duplicate'), event_id: z.string() })
  .openapi('IngestDuplicate');

const batchResultSchema = z
  .object({
    batch_id: z.string(),
    accepted: z.number().int(),
    duplicates: z.number().int(),
    rejected: z.number().int(),
    results: z.array(
      z.object({
        line: z.number().int().openapi({ description: '1-based physical line number' }),
        id: z.string().nullable(),
        status: z.enum(['accepted', 'duplicate', 'rejected']),
        errors: z.array(fieldErrorSchema).optional(),
        record: z
          .object({ kind: z.string(), key: z.string(), version: z.number().int().nullable() })
          .optional()
          .openapi({
            description:
              'On a line rejected because its record version is stored with other content (a 409 on its own): the record',
          }),
      }),
    ),
  })
  .openapi('BatchResult');

const commonErrors = {
  401: problemDoc('Missing or invalid signature, or timestamp outside ±300 s'),
  403: problemDoc('Platform unknown or disabled'),
  413: problemDoc('Body too large'),
  415: problemDoc('Wrong content type'),
  429: { ...problemDoc('Platform over its rate limit'), headers: retryAfterHeader },
  503: { ...problemDoc('Storage unavailable: nothing was stored, retry later'), headers: retryAfterHeader },
};

function webhookHeaders(c: Context): WebhookHeaders {
  return {
    id: requestHeader(c, 'webhook-id') ?? null,
    timestamp: requestHeader(c, 'webhook-timestamp') ?? null,
    signature: requestHeader(c, 'webhook-signature') ?? null,
  };
}

function requireContentType(c: Context, expected: RegExp, name: string): void {
  const ct = requestHeader(c, 'content-type') ?? '';
  if (!expected.test(ct)) throw new ProblemError('unsupported_media_type', `Content-Type must be ${name}.`);
}

const tooLarge = (bytes: number) => () => {
  throw new ProblemError('payload_too_large', `The body exceeds ${bytes} bytes.`);
};

/**
 * The Node request behind @hono/node-server, when its body has not been touched yet. Reading the
 * bytes from it directly spares building a WHATWG Request and a web stream for every event
 * (measurable per request at ingest rates); elsewhere (tests' app.request) the Request is used.
 */
function untouchedIncoming(c: Context): IncomingMessage | null {
  const incoming = nodeIncoming(c);
  if (!incoming) return null;
  if (incoming.readableDidRead || incoming.readableFlowing !== null || incoming.readableEnded) return null;
  return incoming;
}

/** 413 before reading when the declared length is over `maxSize`; otherwise hono's bodyLimit. */
function limitBody(maxSize: number): MiddlewareHandler {
  const viaRequest = bodyLimit({ maxSize, onError: tooLarge(maxSize) });
  return async (c, next) => {
    if (!untouchedIncoming(c)) return viaRequest(c, next);
    const declared = requestHeader(c, 'content-length');
    if (declared !== undefined && Number.parseInt(declared, 10) > maxSize) tooLarge(maxSize)();
    await next();
  };
}

/** The raw body, at most `maxSize` bytes (also when no length was declared: chunked). */
async function rawBody(c: Context, maxSize: number): Promise<Buffer> {
  const incoming = untouchedIncoming(c);
  if (!incoming) return Buffer.from(await c.req.arrayBuffer());
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of incoming) {
    size += (chunk as Buffer).length;
    if (size > maxSize) tooLarge(maxSize)();
    chunks.push(chunk as Buffer);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

export function registerIngest(app: App, ingest: IngestService): void {
  app.openAPIRegistry.registerPath({
    operationId: 'ingestEvent',
    method: 'post',
    path: '/v1/ingest/{platform}/events',
    tags: ['ingestion'],
    summary: 'Push one signed event (Standard Webhooks)',
    description:
      'The event is stored durably in PostgreSQL before the answer. A retry with the same `webhook-id` answers 200 `duplicate`; ' +
      'an identical record (same key and version) under a new id is also a duplicate; different content under a stored record key ' +
      'and version is 409. Rejected authenticated events (400, 409) are kept in a quarantine that administrators can replay.',
    request: {
      params: platformParam,
      headers: signatureHeaders,
      body: { required: true, content: { 'application/json': { schema: eventSchema } } },
    },
    responses: {
      202: {
        description: 'Stored durably and queued',
        content: { 'application/json': { schema: acceptedSchema } },
      },
      200: {
        description: 'This webhook-id (or identical record) was already accepted',
        content: { 'application/json': { schema: duplicateSchema } },
      },
      400: problemDoc('Body or record invalid (JSON, schema, checksums, arithmetic), with `errors`'),
      409: problemDoc('Same record key and version already stored with different content'),
      ...commonErrors,
    },
  });

  app.openAPIRegistry.registerPath({
    operationId: 'ingestBatch',
    method: 'post',
    path: '/v1/ingest/{platform}/batches',
    tags: ['ingestion'],
    summary: 'Push an NDJSON batch of events (backfill)',
    description:
      'At most 10,000 lines / 16 MiB, each `{ "id", "type", "timestamp", "data" }`, signed like a single event over the raw body with ' +
      '`webhook-id` = the batch id. All-or-nothing with respect to storage failure (503), line by line for validation.',
    request: {
      params: platformParam,
      headers: signatureHeaders,
      body: { required: true, content: { 'application/x-ndjson': { schema: z.string() } } },
    },
    responses: {
      200: {
        description: 'Per-line results',
        content: { 'application/json': { schema: batchResultSchema } },
      },
      400: problemDoc('The batch is not valid UTF-8'),
      ...commonErrors,
    },
  });

  // Handlers are plain routes: the body must stay raw bytes until the signature is verified.
  app.post(
    '/v1/ingest/:platform/events',
    async (c, next) => {
      requireContentType(c, /^application\/json\s*(;|$)/i, 'application/json');
      await next();
    },
    limitBody(MAX_EVENT_BYTES),
    async (c) => {
      const platform = c.req.param('platform');
      const raw = await rawBody(c, MAX_EVENT_BYTES);
      const receivedAt = new Date();
      const headers = webhookHeaders(c);
      await ingest.authenticate(platform, headers, raw);
      const result = await ingest.ingestEvent(platform, headers, raw, receivedAt);
      return c.json(result.body, result.status);
    },
  );

  app.post(
    '/v1/ingest/:platform/batches',
    async (c, next) => {
      requireContentType(c, /^application\/(x-)?ndjson\s*(;|$)/i, 'application/x-ndjson');
      await next();
    },
    limitBody(MAX_BATCH_BYTES),
    async (c) => {
      const platform = c.req.param('platform');
      const raw = await rawBody(c, MAX_BATCH_BYTES);
      const receivedAt = new Date();
      const headers = webhookHeaders(c);
      await ingest.authenticate(platform, headers, raw);
      const result = await ingest.ingestBatch(platform, headers, raw, receivedAt);
      return c.json(result, 200);
    },
  );
}
