import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context';
import { enterprise, paymentMade, person, tradeCreated, weighingRecorded } from '../support/factories';
import { drain } from '../support/pipeline';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => ctx.close());

/** Where each stored event of the platform stands after processing, and its last error. */
const eventStates = (platform: string) =>
  ctx.rt.db
    .selectFrom('inbound_events')
    .select(['state', 'last_error'])
    .where('platform', '=', platform)
    .execute();

it('a trade with its payment and weighing is normalised, reconciled and allocated', async () => {
  const p = await ctx.addPlatform();
  const seller = person();
  const station = enterprise('回收站');
  const mill = enterprise('钢厂');
  const buy = tradeCreated({ trade_id: 'B1', seller, buyer: station });
  const sell = tradeCreated({
    trade_id: 'S1',
    seller: station,
    buyer: mill,
    occurred_at: '2026-10-03T08:15:00+08:00',
    tax_treatment: 'simple_3',
  });
  const pay = paymentMade({
    trade_ids: ['B1'],
    payee: { account_name: seller.name, account_no: '6222000011112222' },
  });
  const weigh = weighingRecorded({ trade_id: 'B1' });
  for (const e of [sell, weigh, pay, buy]) {
    const res = await ctx.post(`/v1/ingest/${p.code}/events`, JSON.stringify(e), { secret: p.secret });
    expect(res.status).toBe(202);
  }
  const n = await drain(ctx);
  expect(n.events).toBe(4);
  const flows = await ctx.rt.db
    .selectFrom('trade_flows')
    .selectAll()
    .where('trade_id', '=', 'B1')
    .executeTakeFirstOrThrow();
  expect(flows.payment_status).toBe('matched');
  expect(flows.weighing_status).toBe('matched');
  const allocs = await ctx.rt.db.selectFrom('allocations').selectAll().execute();
  expect(allocs).toHaveLength(1);
  expect(allocs[0]).toMatchObject({
    sale_trade_id: 'S1',
    purchase_trade_id: 'B1',
    basis: 'fifo',
    quantity_g: 12_345_000n,
  });
});

it('a single event sent with a byte order mark is accepted and processed like any other', async () => {
  const p = await ctx.addPlatform();
  const trade = tradeCreated({ trade_id: 'BOM-1', seller: person(), buyer: enterprise('回收站') });
  const res = await ctx.post(`/v1/ingest/${p.code}/events`, `\ufeff${JSON.stringify(trade)}`, {
    secret: p.secret,
  });
  expect(res.status).toBe(202);
  await drain(ctx);
  expect(await eventStates(p.code)).toEqual([{ state: 'processed', last_error: null }]);
  const stored = await ctx.rt.db
    .selectFrom('trades')
    .select('trade_id')
    .where('platform', '=', p.code)
    .execute();
  expect(stored).toEqual([{ trade_id: 'BOM-1' }]);
});

it('records at the edges of the years 1900–2999 are processed, allocated and evaluated like any other', async () => {
  const p = await ctx.addPlatform();
  const seller = person();
  const station = enterprise('回收站');
  const mill = enterprise('钢厂');
  const events = [
    tradeCreated({ trade_id: 'EDGE-B', seller, buyer: station, occurred_at: '1900-01-01T00:00:00+08:00' }),
    tradeCreated({
      trade_id: 'EDGE-S',
      seller: station,
      buyer: mill,
      occurred_at: '2999-12-31T23:59:59+08:00',
      tax_treatment: 'simple_3',
    }),
    tradeCreated({ trade_id: 'EDGE-N', seller, buyer: station }),
  ];
  for (const e of events) {
    const res = await ctx.post(`/v1/ingest/${p.code}/events`, JSON.stringify(e), { secret: p.secret });
    expect(res.status).toBe(202);
  }
  await drain(ctx);
  expect(await eventStates(p.code)).toEqual(events.map(() => ({ state: 'processed', last_error: null })));
  const allocs = await ctx.rt.db
    .selectFrom('allocations')
    .select(['purchase_trade_id', 'sale_trade_id'])
    .where('sale_platform', '=', p.code)
    .orderBy('purchase_trade_id')
    .execute();
  // FIFO: the purchase of 1900 (the same 12.345 t) covers the sale of 2999 whole.
  expect(allocs).toEqual([{ purchase_trade_id: 'EDGE-B', sale_trade_id: 'EDGE-S' }]);
});
