import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSimulateFlags } from '../../src/cli/simulate';
import { SEED_MATERIAL_CODES } from '../../src/domain/catalog';
import { parseEvent } from '../../src/domain/events';
import { generateSecret, secretBytes, verify } from '../../src/security/webhook';
import { generateDataset } from '../../src/simulate/generator';
import { BATCH_LINES, planDelivery, runSimulation } from '../../src/simulate/run';
import { createTestContext, type TestContext } from '../support/context';

const SMALL = { seed: 4, months: 1, scale: 0.05 } as const;

describe('planDelivery', () => {
  it('sends the first third as batches of at most 1,000 lines and every event exactly once, plus re-sends', () => {
    const ds = generateDataset({ ...SMALL, scale: 0.5, months: 2, platform: 'p' });
    const plan = planDelivery(ds.events, 4);
    expect(plan.batches.every((b) => b.length > 0 && b.length <= BATCH_LINES)).toBe(true);
    const batched = plan.batches.flat();
    expect(batched).toEqual(ds.events.slice(0, Math.ceil(ds.events.length / 3)));
    const all = [...batched, ...plan.singles].map((e) => e.id);
    expect(all.length).toBe(ds.events.length);
    expect(new Set(all)).toEqual(new Set(ds.events.map((e) => e.id)));
    expect(plan.outOfOrder).toBeGreaterThan(0);
    expect(plan.singles.map((e) => e.id)).not.toEqual(ds.events.slice(batched.length).map((e) => e.id));
    expect(plan.resend.length).toBeGreaterThanOrEqual(3);
    expect(plan.resendBatch.length).toBeGreaterThan(0);
    expect(planDelivery(ds.events, 4)).toEqual(plan);
  });
});

/** A stand-in ingestion API: verifies signatures, validates like the server, remembers ids. */
function fakeApi(secret: string) {
  const seen = new Set<string>();
  let calls = 0;
  const fetch = async (url: string, init: RequestInit): Promise<Response> => {
    calls += 1;
    const body = Buffer.from(init.body as Uint8Array);
    const h = new Headers(init.headers);
    const ok = verify(
      [secretBytes(secret)],
      {
        id: h.get('webhook-id'),
        timestamp: h.get('webhook-timestamp'),
        signature: h.get('webhook-signature'),
      },
      body,
      Math.floor(Date.now() / 1000),
    );
    if (!ok.ok) return Response.json({ title: 'unauthorized' }, { status: 401 });
    // One storage hiccup and one rate limit: both must be retried transparently.
    if (calls === 2) return Response.json({}, { status: 503, headers: { 'retry-after': '1' } });
    if (calls === 7) return Response.json({}, { status: 429, headers: { 'retry-after': '2' } });
    const check = (ev: unknown) =>
      parseEvent(ev, { materials: SEED_MATERIAL_CODES }).ok ? ('accepted' as const) : ('rejected' as const);
    if (url.endsWith('/batches')) {
      const lines = body.toString('utf8').trim().split('\n');
      const results = lines.map((l, i) => {
        const { id, ...ev } = JSON.parse(l) as { id: string };
        let status: 'accepted' | 'duplicate' | 'rejected' = check(ev);
        if (status === 'accepted' && seen.has(id)) status = 'duplicate';
        seen.add(id);
        return { line: i + 1, id, status };
      });
      const n = (s: string) => results.filter((r) => r.status === s).length;
      return Response.json({
        batch_id: h.get('webhook-id'),
        accepted: n('accepted'),
        duplicates: n('duplicate'),
        rejected: n('rejected'),
        results,
      });
    }
    const id = h.get('webhook-id')!;
    if (check(JSON.parse(body.toString('utf8'))) === 'rejected') return Response.json({}, { status: 400 });
    if (seen.has(id)) return Response.json({ status: 'duplicate', event_id: id });
    seen.add(id);
    return Response.json({ status: 'accepted', event_id: id }, { status: 202 });
  };
  return { fetch, seen };
}

describe('runSimulation', () => {
  it('delivers every event once, counts re-sends as duplicates, retries 429/503 and draws progress', async () => {
    const secret = generateSecret();
    const api = fakeApi(secret);
    const waits: number[] = [];
    let drawn = '';
    const summary = await runSimulation({
      url: 'http://retrace.test/',
      platform: 'jmsim',
      secret,
      ...SMALL,
      concurrency: 4,
      progress: true,
      stream: { write: (s: string) => (drawn += s) },
      client: { fetch: api.fetch, sleep: async (ms) => void waits.push(ms) },
    });
    const ds = generateDataset({ ...SMALL, platform: 'jmsim' });
    expect(summary.events).toBe(ds.events.length);
    expect(summary.accepted).toBe(ds.events.length);
    expect(summary.rejected).toBe(0);
    expect(summary.rejections).toEqual([]);
    expect(summary.duplicates).toBe(summary.delivery.resent);
    expect(summary.sent).toBe(summary.accepted + summary.duplicates);
    expect(summary.retries).toBe(2);
    expect(waits).toEqual([1_000, 2_000]);
    expect(api.seen).toEqual(new Set(ds.events.map((e) => e.id)));
    expect(summary.planted).toEqual(ds.planted);
    expect(Object.values(summary.planted_by_rule).reduce((a, b) => a + b, 0)).toBe(ds.planted.length);
    expect(summary.by_type).toEqual(ds.stats.by_type);
    expect(drawn).toContain('100%');
    expect(drawn.endsWith('\n')).toBe(true);
  });

  it('stops at once with a clear message when the server refuses the signature', async () => {
    const api = fakeApi(generateSecret());
    await expect(
      runSimulation({
        url: 'http://retrace.test',
        platform: 'jmsim',
        secret: generateSecret(),
        ...SMALL,
        stream: { write: () => true },
        client: { fetch: api.fetch, sleep: async () => {} },
      }),
    ).rejects.toThrow(/401.*--secret/);
  });
});

describe('simulate flags', () => {
  const base = { url: 'http://127.0.0.1:8080', platform: 'jmrr', secret: generateSecret() };

  it('takes defaults and parses values', () => {
    expect(parseSimulateFlags(base)).toMatchObject({
      url: 'http://127.0.0.1:8080',
      seed: 1,
      months: 3,
      scale: 1,
      start: '2026-08',
      concurrency: 16,
      progress: false,
    });
    expect(
      parseSimulateFlags({
        ...base,
        seed: '42',
        months: '6',
        scale: '0.25',
        start: '2027-01',
        concurrency: '4',
        progress: true,
      }),
    ).toMatchObject({ seed: 42, months: 6, scale: 0.25, start: '2027-01', concurrency: 4, progress: true });
  });

  it.each([
    [{ url: undefined }, /--url is required/],
    [{ url: true }, /--url needs a value/],
    [{ url: 'ftp://x' }, /http or https/],
    [{ url: 'not a url' }, /absolute/],
    [{ platform: 'Bad Code' }, /--platform/],
    [{ secret: 'hunter2' }, /--secret/],
    [{ seed: '-1' }, /--seed must be an integer from 0/],
    [{ months: '0' }, /--months must be an integer from 1 to 24/],
    [{ months: '2.5' }, /--months/],
    [{ scale: '0' }, /--scale/],
    [{ scale: 'big' }, /--scale/],
    [{ start: '2026-13' }, /--start/],
    [{ start: '2023-01' }, /--start must be a month YYYY-MM from 2024-05/],
    [{ concurrency: '0' }, /--concurrency/],
    [{ progress: 'yes' }, /--progress takes no value/],
  ])('rejects %o', (patch, message) => {
    expect(() => parseSimulateFlags({ ...base, ...patch })).toThrow(message);
  });
});

describe('runSimulation against the real ingestion API', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext();
  });
  afterAll(async () => ctx?.close());

  it('is accepted in full: nothing rejected, re-sends are duplicates', async () => {
    const platform = await ctx.addPlatform({ rateLimit: 100_000 });
    const summary = await runSimulation({
      url: 'http://retrace.test',
      platform: platform.code,
      secret: platform.secret,
      ...SMALL,
      concurrency: 8,
      stream: { write: () => true },
      client: { fetch: (url, init) => Promise.resolve(ctx.app.request(url, init)) },
    });
    expect(summary.rejections).toEqual([]);
    expect(summary.rejected).toBe(0);
    expect(summary.accepted).toBe(summary.events);
    expect(summary.duplicates).toBe(summary.delivery.resent);
  });
});
