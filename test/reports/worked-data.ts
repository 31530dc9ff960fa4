import { push } from '../api/query-app';
import type { TestContext } from '../support/context';
import { enterprise, envelope, paymentFor, person, weighingFor } from '../support/factories';

/**
 * The worked data set of the report tests: four parties, six trades through the real ingestion
 * and processing (flows, allocation → sale_results), and eight findings put into `anomalies` by
 * hand, so that every figure a report shows is known in advance.
 *
 *   A  enterprise 蓬江绿源再生资源回收站 440703 (recycler)
 *   B  enterprise 江海钢铁有限公司       440704
 *   C  enterprise 新会再生资源有限公司   440705 (recycler)
 *   P  natural person 张三              440703
 *
 *   T1  P → A  FE_HEAVY 12,345 kg  27,159.00  reverse_invoice  10-02  paid, weighed (no reverse invoice)
 *   T2  A → B  FE_HEAVY 10,000 kg  24,000.00  simple_3         10-05  paid, weighed, invoiced
 *   T3  C → B  FE_HEAVY  5,000 kg  12,000.00  simple_3         10-08  nothing else
 *   T6  P → A  FE_HEAVY    500 kg   1,100.00  reverse_invoice  10-10  cancelled
 *   T4  A → B  FE_HEAVY 20,000 kg  46,000.00  simple_3         10-20  paid
 *   T5  B → C  FE_HEAVY  1,000 kg   2,400.00  simple_3         11-03  (November: outside 2026-10)
 *
 * Unsourced in October (FIFO over each seller's purchases): A bought 12,345 kg (T1), sold 10,000
 * (T2, covered) then 20,000 (T4: 2,345 covered, 17,655 unsourced) — 17,655 of 30,000 kg, 0.5885.
 * C bought nothing and sold 5,000 kg (T3): all unsourced, 1.0000. P sold 12,345 kg with no
 * purchase at all, but is a natural person: never in the unsourced ranking.
 *
 * Findings (period 2026-10 unless said):
 *   f1 FUNDS_ROUND_TRIP   critical  A  open       [T2]
 *   f2 UNSOURCED_SALE     high      A  confirmed  [T4]  reviewed by sup.li
 *   f3 MISSING_FLOW       medium    A  open       [T4]
 *   f4 PRICE_DEVIATION    medium    P  open       [T1]
 *   f5 MISSING_FLOW       low       P  dismissed
 *   f6 UNSOURCED_SALE     high      C  open       [T3]
 *   f7 VEHICLE_OVERLOAD   high      B  closed
 *   f8 SHELL_BURST        high      A  open       (period 2026-09: another report)
 */
export const A = enterprise('蓬江绿源再生资源回收站', '440703');
export const B = enterprise('江海钢铁有限公司', '440704');
export const C = enterprise('新会再生资源有限公司', '440705');
export const P = person('张三', '440703');

type Party = typeof A | typeof P;

function trade(
  id: string,
  seller: Party,
  buyer: Party,
  kg: number,
  unitPrice: string,
  amount: string,
  at: string,
) {
  return envelope('trade.created', {
    trade_id: id,
    version: 1,
    occurred_at: at,
    seller,
    buyer,
    site: { code: 'S1', division: '440703' },
    lines: [{ material: 'FE_HEAVY', quantity: String(kg), unit: 'kg', unit_price: unitPrice, amount }],
    total_amount: amount,
    tax_treatment: seller.kind === 'natural_person' ? 'reverse_invoice' : 'simple_3',
  });
}

const registered = (p: typeof A, division: string, roles: string[]) =>
  envelope('party.registered', {
    uscc: p.uscc,
    name: p.name,
    division,
    taxpayer_kind: 'general',
    established_on: '2019-06-18',
    roles,
  });

export interface WorkedData {
  platform: { code: string; secret: string };
  pKey: string;
  /** Internal ids of the trades by platform trade id. */
  tradeIds: Record<string, string>;
  /** Finding ids by name (f1 … f8). */
  findings: Record<string, string>;
}

export async function loadWorkedData(ctx: TestContext): Promise<WorkedData> {
  const platform = await ctx.addPlatform();
  await push(
    ctx,
    platform,
    registered(A, '440703', ['recycler']),
    registered(B, '440704', ['utilizer']),
    registered(C, '440705', ['recycler']),
    trade('T1', P, A, 12345, '2.20', '27159.00', '2026-10-02T10:00:00+08:00'),
    trade('T2', A, B, 10000, '2.40', '24000.00', '2026-10-05T10:00:00+08:00'),
    trade('T3', C, B, 5000, '2.40', '12000.00', '2026-10-08T10:00:00+08:00'),
    trade('T6', P, A, 500, '2.20', '1100.00', '2026-10-10T10:00:00+08:00'),
    envelope('trade.cancelled', { trade_id: 'T6', version: 2, reason: 'entered twice' }),
    trade('T4', A, B, 20000, '2.30', '46000.00', '2026-10-20T10:00:00+08:00'),
    trade('T5', B, C, 1000, '2.40', '2400.00', '2026-11-03T10:00:00+08:00'),
    paymentFor('PT1', 'T1', '27159.00', A, P, '6217000000002222333', '2026-10-02T12:00:00+08:00'),
    paymentFor('PT2', 'T2', '24000.00', B, A, '6222000000000000009', '2026-10-05T12:00:00+08:00'),
    paymentFor('PT4', 'T4', '46000.00', B, A, '6222000000000000009', '2026-10-20T12:00:00+08:00'),
    weighingFor('WT1', 'T1', 12345, '2026-10-02T09:00:00+08:00'),
    weighingFor('WT2', 'T2', 10000, '2026-10-05T09:00:00+08:00'),
    // A's invoice for T2: 24,000.00 = 23,300.97 + 699.03 (3%).
    envelope('invoice.issued', {
      invoice_no: '26442000000000000301',
      kind: 'special',
      issued_at: '2026-10-06T10:00:00+08:00',
      seller: A,
      buyer: B,
      trade_ids: ['T2'],
      lines: [
        {
          material: 'FE_HEAVY',
          quantity: '10',
          unit: 't',
          amount_ex_tax: '23300.97',
          tax_rate: '0.03',
          tax_amount: '699.03',
        },
      ],
      total_ex_tax: '23300.97',
      total_tax: '699.03',
      total: '24000.00',
    }),
  );
  const rows = await ctx.rt.db
    .selectFrom('trades')
    .select(['trade_id', 'id', 'seller_key'])
    .where('platform', '=', platform.code)
    .execute();
  const tradeIds = Object.fromEntries(rows.map((r) => [r.trade_id, r.id.toString()]));
  const pKey = rows.find((r) => r.trade_id === 'T1')!.seller_key;
  const ref = (t: string) => ({ id: tradeIds[t]!, platform: platform.code, trade_id: t });

  const finding = (
    name: string,
    rule: string,
    severity: string,
    status: string,
    party: string,
    division: string,
    trades: string[],
    period = '2026-10',
  ) => ({
    rule,
    dedupe_key: `${period}|${name}`,
    rule_version: 1,
    severity,
    status,
    party_key: party,
    division,
    period,
    trades: JSON.stringify(trades.map(ref)),
    documents: '[]',
    summary_zh: `${name}：${rule} 的中文摘要，涉及 ${trades.join('、') || '无交易'}`,
    summary_en: `${name}: English summary of ${rule}, trades ${trades.join(', ') || 'none'}`,
    evidence: JSON.stringify({ finding: name, amount: '1234.56' }),
    fingerprint: name,
    ...(status === 'confirmed' || status === 'dismissed'
      ? { reviewed_by: 'sup.li', reviewed_at: new Date('2026-11-02T03:00:00Z'), review_note: 'checked' }
      : {}),
    first_detected_at: new Date('2026-11-01T02:00:00Z'),
  });
  const inserted = await ctx.rt.db
    .insertInto('anomalies')
    .values([
      finding('f1', 'FUNDS_ROUND_TRIP', 'critical', 'open', A.uscc, '440703', ['T2']),
      finding('f2', 'UNSOURCED_SALE', 'high', 'confirmed', A.uscc, '440703', ['T4']),
      finding('f3', 'MISSING_FLOW', 'medium', 'open', A.uscc, '440703', ['T4']),
      finding('f4', 'PRICE_DEVIATION', 'medium', 'open', pKey, '440703', ['T1']),
      finding('f5', 'MISSING_FLOW', 'low', 'dismissed', pKey, '440703', []),
      finding('f6', 'UNSOURCED_SALE', 'high', 'open', C.uscc, '440705', ['T3']),
      finding('f7', 'VEHICLE_OVERLOAD', 'high', 'closed', B.uscc, '440704', []),
      finding('f8', 'SHELL_BURST', 'high', 'open', A.uscc, '440703', [], '2026-09'),
    ])
    .returning(['id', 'fingerprint'])
    .execute();
  const findings = Object.fromEntries(inserted.map((r) => [r.fingerprint, r.id.toString()]));
  return { platform, pKey, tradeIds, findings };
}
