import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context';
import { enterprise, envelope, person, tradeOf } from '../support/factories';
import { storeFinding } from '../support/findings';
import { addOfficer, type OfficerApp, type TestOfficer } from '../support/officers';
import { buildQueryApp, getAs, push } from './query-app';

// A trade's detail shows how its sale was covered (DOMAIN.md 6: capped claims are "shown as a
// discrepancy") and the undeclared documents that match it ambiguously (recorded, never guessed).
//   P1: A → R, FE_HEAVY 1,000 kg (10-01)      P2: B → R, CU 100 kg (10-01)
//   S1: R → M, FE_HEAVY 1,500 kg (10-05), upstream P1 1,200 kg: 1,000 granted (exceeds_remaining),
//       500 kg unsourced
//   S2: R → M, FE_HEAVY 0 left + CU 100 kg (10-06), upstream P2 100 kg: granted in the CU stream; the
//       FE stream's "not a purchase of FE" is not shown
//   T5, T6: A → R, identical; an undeclared payment of their amount matches both equally well

let ctx: TestContext;
let oa: OfficerApp;
let officer: TestOfficer;
let platform: { code: string; secret: string };
const R = enterprise('蓬江回收站', '440703');
const M = enterprise('新会钢厂', '440705');
const A = person('甲', '440703');
const B = person('乙', '440703');

type Line = [material: string, kg: string, price: string, amount: string];
const trade = (
  id: string,
  seller: typeof A | typeof R,
  buyer: typeof R,
  at: string,
  lines: Line[],
  upstream?: object[],
) => tradeOf(id, seller, buyer, at, lines, { upstream });

beforeAll(async () => {
  ctx = await createTestContext();
  oa = buildQueryApp(ctx);
  officer = await addOfficer(ctx, { divisions: ['440703'] });
  platform = await ctx.addPlatform();
  await push(
    ctx,
    platform,
    trade('P1', A, R, '2026-10-01T09:00:00+08:00', [['FE_HEAVY', '1000', '2.00', '2000.00']]),
    trade('P2', B, R, '2026-10-01T10:00:00+08:00', [['CU', '100', '55.00', '5500.00']]),
    trade(
      'S1',
      R,
      M,
      '2026-10-05T09:00:00+08:00',
      [['FE_HEAVY', '1500', '2.20', '3300.00']],
      [{ trade_id: 'P1', quantity: '1200', unit: 'kg' }],
    ),
    trade(
      'S2',
      R,
      M,
      '2026-10-06T09:00:00+08:00',
      [
        ['FE_HEAVY', '10', '2.20', '22.00'],
        ['CU', '100', '60.00', '6000.00'],
      ],
      [{ trade_id: 'P2', quantity: '100', unit: 'kg' }],
    ),
    trade('T5', A, R, '2026-10-07T09:00:00+08:00', [['PAPER', '500', '1.60', '800.00']]),
    trade('T6', A, R, '2026-10-07T09:00:00+08:00', [['PAPER', '500', '1.60', '800.00']]),
    envelope('payment.made', {
      payment_id: 'U-1',
      trade_ids: [],
      paid_at: '2026-10-07T12:00:00+08:00',
      amount: '800.00',
      channel: 'bank_transfer',
      payer: { account_name: R.name, account_no: '6222000000000000001', party: R },
      payee: { account_name: A.name, account_no: '6222000000000000002', party: A },
    }),
  );
});
afterAll(async () => ctx.close());

describe('GET /v1/trades/{id}: allocation and ambiguous documents', () => {
  it('a capped claim is shown with what was claimed and granted, and the unsourced rest', async () => {
    const r = await getAs(oa, `/v1/trades/${platform.code}:S1`, officer.token);
    expect(r.status, r.text).toBe(200);
    expect(r.body.allocation).toEqual({
      by_material: [
        {
          material: 'FE_HEAVY',
          quantity_kg: '1500.000',
          unsourced_kg: '500.000',
          claim_discrepancies: [
            {
              upstream: { platform: platform.code, trade_id: 'P1' },
              claimed_kg: '1200.000',
              granted_kg: '1000.000',
              reason: 'exceeds_remaining',
            },
          ],
        },
      ],
    });
  });

  it('a multi-material sale’s claim on one material is not a discrepancy of the other', async () => {
    const r = await getAs(oa, `/v1/trades/${platform.code}:S2`, officer.token);
    expect(r.body.allocation.by_material).toEqual([
      { material: 'CU', quantity_kg: '100.000', unsourced_kg: '0.000', claim_discrepancies: [] },
      { material: 'FE_HEAVY', quantity_kg: '10.000', unsourced_kg: '10.000', claim_discrepancies: [] },
    ]);
  });

  it('lists only the findings whose subject party is in your divisions (as GET /v1/anomalies)', async () => {
    await storeFinding(ctx, {
      partyKey: M.uscc,
      rule: 'PASS_THROUGH',
      severity: 'high',
      division: '440705',
      dedupeKey: '2026-10|S1',
      trades: [{ platform: platform.code, trade_id: 'S1' }],
    });
    const mine = await getAs(oa, `/v1/trades/${platform.code}:S1`, officer.token);
    expect(mine.status).toBe(200);
    expect(mine.body.anomalies).toEqual([]);
    const o705 = await addOfficer(ctx, { divisions: ['440705'] });
    const theirs = await getAs(oa, `/v1/trades/${platform.code}:S1`, o705.token);
    expect(theirs.body.anomalies.map((a: { rule: string }) => a.rule)).toEqual(['PASS_THROUGH']);
  });

  it('a natural person’s sale has no allocation; an ambiguous payment is listed on each candidate', async () => {
    for (const id of ['T5', 'T6']) {
      const r = await getAs(oa, `/v1/trades/${platform.code}:${id}`, officer.token);
      expect(r.body.allocation).toBeNull();
      expect(r.body.ambiguous_documents).toEqual([
        { kind: 'payment', number: 'U-1', candidate_trade_ids: ['T5', 'T6'] },
      ]);
      expect(r.body.flows.funds.status).toBe('missing');
    }
    const p1 = await getAs(oa, `/v1/trades/${platform.code}:P1`, officer.token);
    expect(p1.body.ambiguous_documents).toEqual([]);
  });
});
