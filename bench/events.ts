import { secretBytes, sign } from '../src/security/webhook';
import { generateDataset, type SimEvent } from '../src/simulate/generator';
import { progress } from './support';

/** Scale 1 over three months gives about 12,300 events (docs/simulator.md). */
export const EVENTS_PER_SCALE_3_MONTHS = 12_300;

/**
 * The largest scale one dataset is generated at: beyond it the simulator's name pools run dry
 * ("could not find a fresh firm"), so bigger pools come from several seeds.
 */
export const MAX_SCALE = 10;

/**
 * Simulator events for a platform: at least `count` of them, from as many seeds as needed (each
 * seed's record ids carry their own tag, so different seeds never collide). Each dataset is in
 * the order a platform sends it (by event time).
 */
export function eventPool(
  platform: string,
  count: number,
  opts: { scale?: number; months?: number } = {},
): SimEvent[] {
  const months = opts.months ?? 3;
  const scale =
    opts.scale ??
    Math.min(MAX_SCALE, Math.max(0.1, Math.ceil((count / EVENTS_PER_SCALE_3_MONTHS) * 10) / 10));
  const out: SimEvent[] = [];
  for (let seed = 1; out.length < count && seed <= 100; seed++) {
    const t = performance.now();
    const d = generateDataset({ seed, months, scale, platform });
    // Not push(...events): a spread of 100,000 arguments overflows the stack.
    for (const e of d.events) out.push(e);
    progress(
      `generated ${d.events.length} events (seed ${seed}, scale ${scale}, ${months} months) in ${Math.round(performance.now() - t)} ms`,
    );
  }
  return out;
}

/** The body of a single event: the envelope without the NDJSON `id` (that is the webhook-id). */
export function singleBody(e: SimEvent): string {
  return JSON.stringify({ type: e.type, timestamp: e.timestamp, data: e.data });
}

export function ndjson(events: readonly SimEvent[]): Buffer {
  return Buffer.from(`${events.map((e) => JSON.stringify(e)).join('\n')}\n`);
}

/** Standard Webhooks headers for `body`, signed now. */
export function signedHeaders(
  secret: string,
  id: string,
  body: string | Buffer,
  contentType = 'application/json',
): Record<string, string> {
  const ts = Math.floor(Date.now() / 1000);
  return {
    'content-type': contentType,
    'webhook-id': id,
    'webhook-timestamp': String(ts),
    'webhook-signature': sign(secretBytes(secret), id, ts, body),
  };
}

/** POSTs one NDJSON batch; returns the per-line counts. */
export async function postBatch(
  baseUrl: string,
  platform: string,
  secret: string,
  batchId: string,
  events: readonly SimEvent[],
): Promise<{ accepted: number; duplicates: number; rejected: number; ms: number }> {
  const body = ndjson(events);
  const t = performance.now();
  const res = await fetch(`${baseUrl}/v1/ingest/${platform}/batches`, {
    method: 'POST',
    body,
    headers: signedHeaders(secret, batchId, body, 'application/x-ndjson'),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`batch ${batchId}: ${res.status} ${text.slice(0, 500)}`);
  const r = JSON.parse(text) as { accepted: number; duplicates: number; rejected: number };
  return { accepted: r.accepted, duplicates: r.duplicates, rejected: r.rejected, ms: performance.now() - t };
}
