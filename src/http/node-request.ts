import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';

/** The Node request behind @hono/node-server; absent under app.request (tests) and other runtimes. */
export function nodeIncoming(c: Context): IncomingMessage | null {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return incoming && typeof incoming.on === 'function' ? incoming : null;
}

/**
 * A request header, as `c.req.header(name)` gives it (`name` in lower case; repeated headers
 * joined with ", "), read from the Node request when there is one: hono's accessor first copies
 * every header into a WHATWG Headers object, a few per cent of the CPU of an ingest request.
 */
export function requestHeader(c: Context, name: string): string | undefined {
  const incoming = nodeIncoming(c);
  if (!incoming) return c.req.header(name);
  const v = incoming.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}
