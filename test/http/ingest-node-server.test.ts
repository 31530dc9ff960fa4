import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretBytes, sign } from '../../src/security/webhook';
import { createTestContext, type TestContext, uid } from '../support/context';
import { tradeCreated } from '../support/factories';

// The ingest routes read the body straight from Node's request under @hono/node-server (as in
// `serve api`); app.request() in the other tests takes the WHATWG Request path.
let ctx: TestContext;
let platform: { code: string; secret: string };
let server: ReturnType<typeof serve>;
let port: number;

beforeAll(async () => {
  ctx = await createTestContext();
  platform = await ctx.addPlatform();
  server = serve({ fetch: ctx.app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await ctx.close();
});

/** POSTs `chunks` (chunked transfer encoding unless `length` is declared). */
function post(
  path: string,
  chunks: Buffer[],
  headers: Record<string, string>,
): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

function signed(id: string, body: Buffer, contentType = 'application/json') {
  const ts = Math.floor(Date.now() / 1000);
  return {
    'content-type': contentType,
    'webhook-id': id,
    'webhook-timestamp': String(ts),
    'webhook-signature': sign(secretBytes(platform.secret), id, ts, body),
  };
}

describe('ingest over a real Node server', () => {
  it('stores the exact bytes of a body sent in several chunks', async () => {
    const id = uid('msg_');
    const body = Buffer.from(JSON.stringify(tradeCreated()));
    const parts = [body.subarray(0, 10), body.subarray(10, 200), body.subarray(200)];
    const res = await post(`/v1/ingest/${platform.code}/events`, parts, signed(id, body));
    expect(res.status).toBe(202);
    const row = await ctx.rt.db
      .selectFrom('inbound_events')
      .select('raw_body')
      .where('event_id', '=', id)
      .executeTakeFirstOrThrow();
    expect(ctx.rt.keyring.decryptBytes('event-bodies', row.raw_body).equals(body)).toBe(true);
  });

  it('with a declared length: stored; over 1 MiB declared: 413 without reading', async () => {
    const id = uid('msg_');
    const body = Buffer.from(JSON.stringify(tradeCreated()));
    const ok = await post(`/v1/ingest/${platform.code}/events`, [body], {
      ...signed(id, body),
      'content-length': String(body.length),
    });
    expect(ok.status).toBe(202);
    const big = Buffer.alloc(1024 * 1024 + 1, 0x20);
    const res = await post(`/v1/ingest/${platform.code}/events`, [big], {
      ...signed(uid('msg_'), big),
      'content-length': String(big.length),
    });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).type).toContain('payload');
  });

  it('chunked over the limit: 413, nothing stored', async () => {
    const id = uid('msg_');
    const chunk = Buffer.alloc(256 * 1024, 0x20);
    const res = await post(
      `/v1/ingest/${platform.code}/events`,
      [chunk, chunk, chunk, chunk, chunk],
      signed(id, chunk),
    );
    expect(res.status).toBe(413);
    const row = await ctx.rt.db
      .selectFrom('inbound_events')
      .select('event_id')
      .where('event_id', '=', id)
      .executeTakeFirst();
    expect(row).toBeUndefined();
  });

  it('a batch in chunks: per-line results', async () => {
    const lines = [1, 2, 3].map(() => JSON.stringify({ id: uid('ev_'), ...tradeCreated() }));
    const body = Buffer.from(`${lines.join('\n')}\n`);
    const res = await post(
      `/v1/ingest/${platform.code}/batches`,
      [body.subarray(0, 7), body.subarray(7)],
      signed(uid('batch_'), body, 'application/x-ndjson'),
    );
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ accepted: 3, duplicates: 0, rejected: 0 });
  });

  it('reads the signature, content type and request id headers from the Node request', async () => {
    const body = Buffer.from(JSON.stringify(tradeCreated()));
    const path = `/v1/ingest/${platform.code}/events`;
    const ok = await post(path, [body], { ...signed(uid('evt'), body), 'x-request-id': 'client-req-42' });
    expect(ok.status).toBe(202);
    expect(ok.headers['x-request-id']).toBe('client-req-42');

    const unsigned = signed(uid('evt'), body);
    delete (unsigned as Record<string, string>)['webhook-signature'];
    const noSignature = await post(path, [body], { ...unsigned, 'x-request-id': 'bad id!' });
    expect(noSignature.status).toBe(401);
    expect(noSignature.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);

    const text = await post(path, [body], signed(uid('evt'), body, 'text/plain'));
    expect(text.status).toBe(415);
  });
});
