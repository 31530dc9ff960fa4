import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TOLERANCES } from '../../src/domain/tolerances';
import { recheckMatches } from '../../src/processing/matching';
import { createTestContext, type TestContext } from '../support/context';
import { enterprise, invoiceIssued, partyRegistered, paymentMade, tradeOf } from '../support/factories';
import { processEachAtOnce } from '../support/pipeline';

// An undeclared document (no trade_ids) and its trade sent a moment apart are taken by two
// workers at once, each in its own transaction: each may miss the other's uncommitted row, and
// the document stays unmatched. The sweep matches every group marked by a match again once those
// transactions have committed (match_rechecks): then every trade is matched, as when the two
// arrive a day apart. E sells M 8 t of FE_HEAVY at ¥2,300/t = ¥18,400.00 under simple_3.

let ctx: TestContext;
const E = enterprise('鹤山分拣中心', '440784');
const M = enterprise('台山钢铁', '440781');
const PAIRS = 12;

beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => ctx.close());

// Each pair a day apart, so that no document could match another pair's trade.
const day = (i: number) => String(i + 1).padStart(2, '0');
const trade = (i: number) =>
  tradeOf(`T${i}`, E, M, `2026-10-${day(i)}T10:00:00+08:00`, [['FE_HEAVY', '8', '2300.00', '18400.00']], {
    unit: 't',
  });
const payment = (i: number) =>
  paymentMade({
    payment_id: `P${i}`,
    paid_at: `2026-10-${day(i)}T12:00:00+08:00`,
    amount: '18400.00',
    payer: { account_name: M.name, account_no: '6222000000000000001', party: M },
    payee: { account_name: E.name, account_no: '6222000000000000002', party: E },
  });
const invoice = (i: number) =>
  invoiceIssued({
    invoice_no: `2644200000000001${String(i).padStart(4, '0')}`,
    issued_at: `2026-10-${day(i)}T14:00:00+08:00`,
    seller: E,
    buyer: M,
    lines: [
      {
        material: 'FE_HEAVY',
        quantity: '8',
        unit: 't',
        amount_ex_tax: '17864.08',
        tax_rate: '0.03',
        tax_amount: '535.92',
      },
    ],
    total_ex_tax: '17864.08',
    total_tax: '535.92',
    total: '18400.00',
  });

async function post(platform: { code: string; secret: string }, e: unknown) {
  const res = await ctx.post(`/v1/ingest/${platform.code}/events`, JSON.stringify(e), {
    secret: platform.secret,
  });
  expect(res.status, await res.clone().text()).toBe(202);
}

const flows = (platform: string) =>
  ctx.rt.db
    .selectFrom('trade_flows')
    .select(['trade_id', 'payment_status', 'invoice_status'])
    .where('platform', '=', platform)
    .orderBy('trade_id')
    .execute();

describe('undeclared documents processed at the same moment as their trades', () => {
  it('are all matched once the sweep has matched their groups again', async () => {
    const p = await ctx.addPlatform();
    // Registrations first, so that each pair's transactions only race each other.
    await post(
      p,
      partyRegistered({ uscc: E.uscc, name: E.name, division: '440784', roles: ['sorting_center'] }),
    );
    await post(p, partyRegistered({ uscc: M.uscc, name: M.name, division: '440781', roles: ['utilizer'] }));
    await processEachAtOnce(ctx, p.code);
    for (let i = 0; i < PAIRS; i++) {
      await post(p, trade(i));
      await post(p, payment(i));
      await post(p, invoice(i));
      await processEachAtOnce(ctx, p.code);
    }
    const recheck = await recheckMatches(ctx.rt.db, DEFAULT_TOLERANCES, { minAgeSeconds: 0, limit: 500 });
    expect(recheck.groups).toBeGreaterThan(0);
    const rows = await flows(p.code);
    expect(rows).toHaveLength(PAIRS);
    expect(rows.filter((r) => r.payment_status !== 'matched' || r.invoice_status !== 'matched')).toEqual([]);
    // The marks are gone; a second pass has nothing to do.
    expect(await recheckMatches(ctx.rt.db, DEFAULT_TOLERANCES, { minAgeSeconds: 0, limit: 500 })).toEqual({
      groups: 0,
      trades: [],
      periods: [],
    });
  });
});
