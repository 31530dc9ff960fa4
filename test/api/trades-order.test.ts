import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context';
import { enterprise, pricedTrade } from '../support/factories';
import { addOfficer, type OfficerApp, type TestOfficer } from '../support/officers';
import { buildQueryApp, getAs, push } from './query-app';

// CONTRACT.md 1.3: results must not depend on arrival order — the trade list's order included.
// Trades at the same instant are listed by their natural key (platform, trade id), descending like
// the time, never by the internal id (arrival).

let ctx: TestContext;
let oa: OfficerApp;
let city: TestOfficer;
const S = enterprise('荷塘回收站', '440703');
const M = enterprise('双水钢铁', '440705');
const AT = '2026-10-09T10:00:00+08:00';

beforeAll(async () => {
  ctx = await createTestContext();
  oa = buildQueryApp(ctx);
  city = await addOfficer(ctx, { divisions: ['440700'] });
});
afterAll(async () => ctx.close());

const sale = (id: string, at = AT) => pricedTrade(id, S, M, { kg: 1000, fenPerKg: 220, at });
const idsOf = (body: { items: { trade_id: string }[] }) => body.items.map((t) => t.trade_id);

describe('GET /v1/trades — trades at the same instant', () => {
  it('are listed by platform and trade id, whatever order they arrived in, on one page or many', async () => {
    const first = await ctx.addPlatform();
    const second = await ctx.addPlatform();
    // The same trades, arriving (and processed) one by one in opposite orders on the two platforms.
    for (const e of [sale('Z0', '2026-10-08T10:00:00+08:00'), sale('Z3'), sale('Z1'), sale('Z2')])
      await push(ctx, first, e);
    for (const e of [sale('Z2'), sale('Z1'), sale('Z3'), sale('Z0', '2026-10-08T10:00:00+08:00')])
      await push(ctx, second, e);
    const [hi, lo] = [first.code, second.code].sort().reverse();
    const expected = [
      ...['Z3', 'Z2', 'Z1'].map((id) => `${hi}:${id}`),
      ...['Z3', 'Z2', 'Z1'].map((id) => `${lo}:${id}`),
      `${hi}:Z0`,
      `${lo}:Z0`,
    ];
    const keysOf = (body: { items: { platform: string; trade_id: string }[] }) =>
      body.items.map((t) => `${t.platform}:${t.trade_id}`);
    const one = await getAs(oa, '/v1/trades?limit=500', city.token);
    expect(keysOf(one.body)).toEqual(expected);
    expect(idsOf(one.body)).toHaveLength(8);

    const paged: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page++) {
      const r = await getAs(oa, `/v1/trades?limit=3${cursor ? `&cursor=${cursor}` : ''}`, city.token);
      expect(r.status).toBe(200);
      paged.push(...keysOf(r.body));
      cursor = r.body.next_cursor;
      if (!cursor) break;
    }
    expect(paged).toEqual(expected);
  });
});
