import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context';
import { enterprise, person, tradeOf } from '../support/factories';
import { addOfficer, type OfficerApp, type TestOfficer } from '../support/officers';
import { buildQueryApp, getAs, push } from './query-app';

// The reverse-invoicing VAT exemption (¥100,000 excl. VAT a month, DOMAIN.md 1 and 5) is the
// natural person's: their sales to every buyer of the month count, not only the sales to the
// station whose sheet is shown. Worked by hand at the 1% rate of 2026-10 (ex = total ÷ 1.01):
//   P: ¥60,600.00 to S1 + ¥60,600.00 to S2 → ex 60,000 + 60,000 = 120,000 > 100,000: not exempt;
//      on S1's sheet VAT 60,000 × 1% = 600.00, IIT 60,000 × 0.5% = 300.00.
//   Q: ¥40,399.98 to S1 + ¥50,500.02 to S2 → ex 39,999.98 + 50,000.02 = 90,000.00 ≤ 100,000:
//      exempt; on S1's sheet VAT 0, IIT 39,999.98 × 0.5% = 199.9999 → 200.00.

let ctx: TestContext;
let oa: OfficerApp;
let city: TestOfficer;
const S1 = enterprise('蓬江甲回收站', '440703');
const S2 = enterprise('江海乙回收站', '440704');
const P = person('两站卖家甲', '440703');
const Q = person('两站卖家乙', '440703');

const sale = (id: string, seller: typeof P, buyer: typeof S1, at: string, kg: string, amount: string) =>
  tradeOf(id, seller, buyer, at, [['CU', kg, '60.00', amount]]);

beforeAll(async () => {
  ctx = await createTestContext();
  oa = buildQueryApp(ctx);
  city = await addOfficer(ctx, { divisions: ['440700'] });
  const platform = await ctx.addPlatform();
  await push(
    ctx,
    platform,
    sale('P1', P, S1, '2026-10-05T10:00:00+08:00', '1010', '60600.00'),
    sale('P2', P, S2, '2026-10-06T10:00:00+08:00', '1010', '60600.00'),
    sale('Q1', Q, S1, '2026-10-05T11:00:00+08:00', '673.333', '40399.98'),
    sale('Q2', Q, S2, '2026-10-06T11:00:00+08:00', '841.667', '50500.02'),
  );
});
afterAll(async () => ctx.close());

describe('reverse-invoice withholding: the monthly exemption over all of a person’s buyers', () => {
  it('on a station’s sheet, a person over the exemption with all buyers is not exempt', async () => {
    const page = await getAs(oa, `/v1/parties/${S1.uscc}/summary/withholding?period=2026-10`, city.token);
    expect(page.status, page.text).toBe(200);
    const byName = new Map(page.body.items.map((r: { name: string }) => [r.name, r]));
    expect(byName.get(P.name)).toMatchObject({
      trades: 1,
      amount: '60600.00',
      amount_ex_tax: '60000.00',
      monthly_exemption: '100000.00',
      exempt: false,
      vat: '600.00',
      iit: '300.00',
    });
    expect(byName.get(Q.name)).toMatchObject({
      trades: 1,
      amount: '40399.98',
      amount_ex_tax: '39999.98',
      exempt: true,
      vat: '0.00',
      iit: '200.00',
    });
    const sheet = await getAs(oa, `/v1/parties/${S1.uscc}/summary?period=2026-10`, city.token);
    expect(sheet.body.tax.reverse_invoice_withholding).toMatchObject({
      persons: 2,
      exempt_persons: 1,
      total: { trades: 2, amount: '100999.98', vat: '600.00', iit: '500.00' },
    });
  });

  it('the person’s own sheet has all their sales: the same decision', async () => {
    const key = (
      await ctx.rt.db
        .selectFrom('trades')
        .select('seller_key')
        .where('trade_id', '=', 'P1')
        .executeTakeFirstOrThrow()
    ).seller_key;
    const sheet = await getAs(oa, `/v1/parties/${key}/summary?period=2026-10`, city.token);
    expect(sheet.status, sheet.text).toBe(200);
    expect(sheet.body.tax.reverse_invoice_withholding).toMatchObject({
      persons: 1,
      exempt_persons: 0,
      total: { trades: 2, amount: '121200.00', amount_ex_tax: '120000.00', vat: '1200.00', iit: '600.00' },
    });
  });
});
