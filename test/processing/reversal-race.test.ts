import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context';
import { enterprise, envelope, invoiceIssued, paymentFor, tradeOf } from '../support/factories';
import { drain, processEachAtOnce } from '../support/pipeline';

// A payment and its reversal (a blue invoice and its red letter) sent a moment apart are taken by
// two workers at once, each in its own transaction. Neither may miss the other: whichever commits
// first, the trade ends with nothing paid (invoiced), as when the two arrive a day apart.
// E sells M 10 t of FE_HEAVY at ¥2,200/t = ¥22,000.00 under simple_3 (ex ¥21,359.22, tax ¥640.78).

let ctx: TestContext;
const E = enterprise('蓬江分拣中心', '440703');
const M = enterprise('江门钢铁', '440705');
const PAIRS = 12;

beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => ctx.close());

const trade = (id: string) =>
  tradeOf(id, E, M, '2026-10-02T10:00:00+08:00', [['FE_HEAVY', '10', '2200.00', '22000.00']], { unit: 't' });

const payment = (id: string, tradeId: string) =>
  paymentFor(id, tradeId, '22000.00', M, E, '6222000000000000002', '2026-10-03T10:00:00+08:00');
const paymentReversed = (id: string) =>
  envelope('payment.reversed', {
    payment_id: id,
    reversed_at: '2026-10-03T12:00:00+08:00',
    reason: 'bounced',
  });

const invoiceNo = (n: number) => `264420000000000${String(n).padStart(5, '0')}`;
const invoice = (no: string, tradeId: string) =>
  invoiceIssued({
    invoice_no: no,
    seller: E,
    buyer: M,
    trade_ids: [tradeId],
    lines: [
      {
        material: 'FE_HEAVY',
        quantity: '10',
        unit: 't',
        amount_ex_tax: '21359.22',
        tax_rate: '0.03',
        tax_amount: '640.78',
      },
    ],
    total_ex_tax: '21359.22',
    total_tax: '640.78',
    total: '22000.00',
  });
const invoiceReversed = (no: string, original: string) =>
  envelope('invoice.reversed', {
    invoice_no: no,
    original_invoice_no: original,
    issued_at: '2026-10-06T10:00:00+08:00',
    total_ex_tax: '-21359.22',
    total_tax: '-640.78',
    total: '-22000.00',
  });

async function post(platform: { code: string; secret: string }, e: unknown) {
  const res = await ctx.post(`/v1/ingest/${platform.code}/events`, JSON.stringify(e), {
    secret: platform.secret,
  });
  expect(res.status, await res.clone().text()).toBe(202);
}

async function flows(platform: string) {
  return ctx.rt.db
    .selectFrom('trade_flows')
    .select(['trade_id', 'payment_status', 'paid_fen', 'invoice_status', 'invoiced_fen'])
    .where('platform', '=', platform)
    .orderBy('trade_id')
    .execute();
}

describe('a reversal processed at the same moment as its original', () => {
  it('a reversed payment leaves its trade unpaid, whichever transaction commits first', async () => {
    const p = await ctx.addPlatform();
    for (let i = 0; i < PAIRS; i++) {
      await post(p, trade(`T${i}`));
      await drain(ctx, { rules: false });
      await post(p, payment(`P${i}`, `T${i}`));
      await post(p, paymentReversed(`P${i}`));
      expect(await processEachAtOnce(ctx, p.code)).toEqual([1, 1]);
    }
    const rows = await flows(p.code);
    expect(rows).toHaveLength(PAIRS);
    expect(rows.filter((r) => r.payment_status !== 'missing' || r.paid_fen !== 0n)).toEqual([]);
  });

  it('a fully red-reversed invoice leaves its trade uninvoiced, whichever transaction commits first', async () => {
    const p = await ctx.addPlatform();
    for (let i = 0; i < PAIRS; i++) {
      await post(p, trade(`T${i}`));
      await drain(ctx, { rules: false });
      await post(p, invoice(invoiceNo(2 * i), `T${i}`));
      await post(p, invoiceReversed(invoiceNo(2 * i + 1), invoiceNo(2 * i)));
      expect(await processEachAtOnce(ctx, p.code)).toEqual([1, 1]);
    }
    const rows = await flows(p.code);
    expect(rows).toHaveLength(PAIRS);
    expect(rows.filter((r) => r.invoice_status !== 'missing' || r.invoiced_fen !== 0n)).toEqual([]);
  });
});
