import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildQueryApp, getAs, push } from '../api/query-app';
import { createTestContext, type TestContext } from '../support/context';
import { enterprise, envelope, person, tradeOf } from '../support/factories';
import { storeFinding } from '../support/findings';
import { addOfficer, type OfficerApp, type TestOfficer } from '../support/officers';

// A seller whose id number is from outside Jiangmen (here Beijing, 110105) is placed in the
// division of the buyer of their earliest sale: otherwise no officer, not even the city's, could
// see their profile, reference sheet or findings. Earliest by (occurred_at, platform, trade_id):
// the same whatever order the trades arrive in.

let ctx: TestContext;
let oa: OfficerApp;
let o703: TestOfficer;
let o705: TestOfficer;
let city: TestOfficer;

const S703 = enterprise('蓬江回收站', '440703');
const S705 = enterprise('新会回收站', '440705');

const sale = (id: string, seller: ReturnType<typeof person>, buyer: typeof S703, at: string) =>
  tradeOf(id, seller, buyer, at, [['FE_HEAVY', '100', '2.20', '220.00']]);

async function personOf(tradeId: string, platform: string) {
  const t = await ctx.rt.db
    .selectFrom('trades')
    .select('seller_key')
    .where('platform', '=', platform)
    .where('trade_id', '=', tradeId)
    .executeTakeFirstOrThrow();
  return ctx.rt.db
    .selectFrom('parties')
    .select(['party_key', 'division', 'id_division', 'placed_by'])
    .where('party_key', '=', t.seller_key)
    .executeTakeFirstOrThrow();
}

beforeAll(async () => {
  ctx = await createTestContext();
  oa = buildQueryApp(ctx);
  o703 = await addOfficer(ctx, { divisions: ['440703'] });
  o705 = await addOfficer(ctx, { divisions: ['440705'] });
  city = await addOfficer(ctx, { divisions: ['440700'] });
});
afterAll(async () => ctx.close());

describe('natural persons with an id number from outside Jiangmen', () => {
  it('are placed by their earliest sale, move when an earlier one arrives late, and take their trades and findings along', async () => {
    const platform = await ctx.addPlatform();
    const P = person('外地卖家', '110105');
    await push(ctx, platform, sale('B2', P, S703, '2026-10-10T10:00:00+08:00'));
    let p = await personOf('B2', platform.code);
    expect(p).toMatchObject({ division: '440703', id_division: '110105' });
    expect((await getAs(oa, `/v1/parties/${p.party_key}`, o703.token)).status).toBe(200);
    expect((await getAs(oa, `/v1/parties/${p.party_key}`, city.token)).status).toBe(200);
    expect((await getAs(oa, `/v1/parties/${p.party_key}`, o705.token)).status).toBe(404);

    // A finding about the person, stored while they were in 440703.
    await storeFinding(ctx, {
      partyKey: p.party_key,
      rule: 'INCOME_SPLITTING',
      severity: 'medium',
      division: '440703',
    });

    // An earlier sale to a station in 440705 arrives late: the person moves there.
    await push(ctx, platform, sale('B1', P, S705, '2026-10-05T10:00:00+08:00'));
    p = await personOf('B2', platform.code);
    expect(p.division).toBe('440705');
    expect(p.placed_by).toBe(`2026-10-05T02:00:00.000Z\u001f${platform.code}\u001fB1`);
    expect((await getAs(oa, `/v1/parties/${p.party_key}`, o705.token)).status).toBe(200);
    expect((await getAs(oa, `/v1/parties/${p.party_key}`, o703.token)).status).toBe(404);
    const sellerDivisions = await ctx.rt.db
      .selectFrom('trades')
      .select('seller_division')
      .where('seller_key', '=', p.party_key)
      .execute();
    expect(sellerDivisions.map((t) => t.seller_division)).toEqual(['440705', '440705']);
    const finding = await ctx.rt.db
      .selectFrom('anomalies')
      .select('division')
      .where('party_key', '=', p.party_key)
      .executeTakeFirstOrThrow();
    expect(finding.division).toBe('440705');
    // B2 stays visible in 440703 through its buyer.
    expect((await getAs(oa, `/v1/trades/${platform.code}:B2`, o703.token)).status).toBe(200);

    // A later sale elsewhere changes nothing.
    await push(ctx, platform, sale('B3', P, S703, '2026-10-20T10:00:00+08:00'));
    expect((await personOf('B3', platform.code)).division).toBe('440705');
  });

  it('end in the same division whatever the arrival order, even within one batch', async () => {
    const results: string[] = [];
    for (const order of [
      [0, 1, 2],
      [2, 1, 0],
      [1, 2, 0],
    ]) {
      const platform = await ctx.addPlatform();
      const P = person('外地卖家', '430521');
      const sales = [
        sale('C1', P, S705, '2026-10-03T10:00:00+08:00'),
        sale('C2', P, S703, '2026-10-03T10:00:00+08:00'), // same time: C1 < C2
        sale('C3', P, S703, '2026-10-01T10:00:00+08:00'),
      ];
      await push(ctx, platform, ...order.map((i) => sales[i]!));
      results.push((await personOf('C1', platform.code)).division);
    }
    expect(results).toEqual(['440703', '440703', '440703']);
  });

  it('an enterprise registered in another division than its USCC says takes its trades and findings along', async () => {
    const platform = await ctx.addPlatform();
    const S = enterprise('改址回收站', '440703'); // USCC positions 3–8: 440703
    const L = person('本地卖家', '440703');
    const F = person('外地卖家', '110105'); // placed by their sale to S
    await push(
      ctx,
      platform,
      sale('R1', L, S, '2026-10-03T10:00:00+08:00'),
      sale('R2', F, S, '2026-10-04T10:00:00+08:00'),
    );
    expect((await personOf('R2', platform.code)).division).toBe('440703');
    await storeFinding(ctx, {
      partyKey: S.uscc,
      rule: 'UNSOURCED_SALE',
      severity: 'high',
      division: '440703',
    });
    await push(
      ctx,
      platform,
      envelope('party.registered', {
        uscc: S.uscc,
        name: S.name,
        division: '440705',
        taxpayer_kind: 'general',
        established_on: '2020-01-01',
        roles: ['recycler'],
      }),
    );
    const t = await ctx.rt.db
      .selectFrom('trades')
      .select('buyer_division')
      .where('platform', '=', platform.code)
      .where('trade_id', '=', 'R1')
      .executeTakeFirstOrThrow();
    expect(t.buyer_division).toBe('440705');
    const f = await ctx.rt.db
      .selectFrom('anomalies')
      .select('division')
      .where('party_key', '=', S.uscc)
      .executeTakeFirstOrThrow();
    expect(f.division).toBe('440705');
    // The person placed by a sale to S moves with S; the local person keeps their own division.
    expect((await personOf('R2', platform.code)).division).toBe('440705');
    expect((await personOf('R1', platform.code)).division).toBe('440703');
  });

  it('follow their earliest sale as it now stands: an amendment to another buyer or a cancellation moves them, in any order', async () => {
    const amended = (id: string, seller: ReturnType<typeof person>, buyer: typeof S703, at: string) => {
      const e = sale(id, seller, buyer, at) as { type: string; data: Record<string, unknown> };
      return { ...e, type: 'trade.amended', data: { ...e.data, version: 2 } };
    };
    const results: string[] = [];
    for (const order of [
      [0, 1],
      [1, 0],
    ]) {
      const platform = await ctx.addPlatform();
      const P = person('外地卖家', '310101');
      // Version 1 sold to Pengjiang, version 2 (the one that stands) to Xinhui.
      const versions = [
        sale('A1', P, S703, '2026-10-03T10:00:00+08:00'),
        amended('A1', P, S705, '2026-10-03T10:00:00+08:00'),
      ];
      for (const i of order) await push(ctx, platform, versions[i]!);
      const p = await personOf('A1', platform.code);
      results.push(p.division);
      expect((await getAs(oa, `/v1/parties/${p.party_key}`, o705.token)).status).toBe(200);
      expect((await getAs(oa, `/v1/parties/${p.party_key}`, o703.token)).status).toBe(404);
      expect((await getAs(oa, `/v1/trades/${platform.code}:A1`, o703.token)).status).toBe(404);
    }
    expect(results).toEqual(['440705', '440705']);

    // A cancelled earliest sale gives way to the next active one.
    const platform = await ctx.addPlatform();
    const Q = person('外地卖家', '320102');
    await push(
      ctx,
      platform,
      sale('K1', Q, S703, '2026-10-01T10:00:00+08:00'),
      sale('K2', Q, S705, '2026-10-09T10:00:00+08:00'),
    );
    expect((await personOf('K2', platform.code)).division).toBe('440703');
    await push(
      ctx,
      platform,
      envelope('trade.cancelled', { trade_id: 'K1', version: 2, reason: 'entered twice' }),
    );
    expect((await personOf('K2', platform.code)).division).toBe('440705');
  });

  it('a person with a Jiangmen id number keeps it, wherever they sell', async () => {
    const platform = await ctx.addPlatform();
    const L = person('本地卖家', '440781');
    await push(ctx, platform, sale('L1', L, S705, '2026-10-03T10:00:00+08:00'));
    expect(await personOf('L1', platform.code)).toMatchObject({ division: '440781', placed_by: null });
  });
});
