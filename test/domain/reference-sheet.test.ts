import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Sale, StreamEntry } from '../../src/domain/allocation';
import {
  computeReferenceSheet,
  computeWithholdingRows,
  formatRatio,
  isPeriod,
  periodBounds,
  type ReferenceSheetInput,
  type SheetTrade,
  type TreatmentRow,
  treatmentOn,
} from '../../src/domain/reference-sheet';
import { shanghaiDate } from '../../src/domain/time';

/** An instant given as Asia/Shanghai wall-clock time. */
const cst = (m: number, d: number, h = 10, y = 2026): number => Date.UTC(y, m - 1, d, h - 8);
const kg = (n: number): bigint => BigInt(n) * 1000n;
const yuan = (s: string): bigint => BigInt(s.replace('.', ''));

/** The seed rows of sql/202611280110_reference_data.sql. */
const TREATMENTS: TreatmentRow[] = [
  { code: 'simple_3', validFrom: '2022-03-01', validTo: null, levyRate: '0.0300', monthlyExemptionFen: null },
  // The individual income tax prepay rate is reference data too (sql/202611280510_iit_prepay_rate.sql).
  {
    code: 'iit_reverse_invoice',
    validFrom: '2024-04-29',
    validTo: null,
    levyRate: '0.0050',
    monthlyExemptionFen: null,
  },
  {
    code: 'general_13',
    validFrom: '2019-04-01',
    validTo: null,
    levyRate: '0.1300',
    monthlyExemptionFen: null,
  },
  {
    code: 'small_scale_1',
    validFrom: '2023-01-01',
    validTo: '2027-12-31',
    levyRate: '0.0100',
    monthlyExemptionFen: null,
  },
  {
    code: 'small_scale_1',
    validFrom: '2028-01-01',
    validTo: null,
    levyRate: '0.0300',
    monthlyExemptionFen: null,
  },
  {
    code: 'reverse_invoice',
    validFrom: '2024-04-29',
    validTo: '2027-12-31',
    levyRate: '0.0100',
    monthlyExemptionFen: 10_000_000n,
  },
  {
    code: 'reverse_invoice',
    validFrom: '2028-01-01',
    validTo: null,
    levyRate: '0.0300',
    monthlyExemptionFen: 10_000_000n,
  },
  { code: 'exempt', validFrom: '2000-01-01', validTo: null, levyRate: '0', monthlyExemptionFen: null },
];

const R = 'RECYCLER';
const M = 'MILL';
const E = 'GENERATOR';
const A = 'np_personaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const B = 'np_personbbbbbbbbbbbbbbbbbbbbbbbbbbb';
const C = 'np_personcccccccccccccccccccccccccccc';

function trade(
  tradeId: string,
  atMs: number,
  seller: { key: string; kind: 'enterprise' | 'natural_person'; name?: string },
  buyerKey: string,
  treatment: string,
  lines: [material: string, kilos: number, amount: string][],
  flows: SheetTrade['flows'],
): SheetTrade {
  const ls = lines.map(([material, kilos, amount]) => ({
    material,
    quantityG: kg(kilos),
    amountFen: yuan(amount),
  }));
  return {
    platform: 'jmrr',
    tradeId,
    atMs,
    sellerKey: seller.key,
    sellerKind: seller.kind,
    sellerName: seller.name ?? seller.key,
    buyerKey,
    totalFen: ls.reduce((s, l) => s + l.amountFen, 0n),
    taxTreatment: treatment,
    lines: ls,
    flows,
  };
}

const ok = { payment: 'matched', weighing: 'matched', invoice: 'matched' };
const person = (key: string, name: string) => ({ key, kind: 'natural_person' as const, name });
const ent = (key: string) => ({ key, kind: 'enterprise' as const });

// The recycler R's October 2026, worked by hand below.
const october: SheetTrade[] = [
  trade('P1', cst(10, 1), person(A, '甲'), R, 'reverse_invoice', [['FE_HEAVY', 1000, '2200.00']], ok),
  trade('P2', cst(10, 2), person(B, '乙'), R, 'reverse_invoice', [['FE_HEAVY', 2000, '4400.00']], {
    payment: 'matched',
    weighing: 'partial',
    invoice: 'missing',
  }),
  trade(
    'P3',
    cst(10, 3),
    ent(E),
    R,
    'general_13',
    [
      ['CU', 100, '6000.00'],
      ['FE_HEAVY', 500, '1100.00'],
    ],
    ok,
  ),
  trade('P4', cst(10, 20), person(A, '甲'), R, 'reverse_invoice', [['FE_HEAVY', 50000, '110000.00']], {
    payment: 'matched',
    weighing: 'matched',
    invoice: 'missing',
  }),
  // A natural person selling outside reverse invoicing: no invoice is expected of this trade.
  trade('P5', cst(10, 4), person(C, '丙'), R, 'exempt', [['PAPER', 300, '480.00']], {
    payment: 'matched',
    weighing: 'missing',
    invoice: 'missing',
  }),
  trade('S1', cst(10, 5), ent(R), M, 'simple_3', [['FE_HEAVY', 2500, '5600.00']], {
    payment: 'matched',
    weighing: 'matched',
    invoice: 'mismatch',
  }),
  // Flows not computed yet: counts as not matched.
  trade('S2', cst(10, 2), ent(R), M, 'general_13', [['CU', 100, '6500.00']], null),
];

const ref = (tradeId: string) => ({ platform: 'jmrr', tradeId });
const entry = (tradeId: string, atMs: number, kilos: number): StreamEntry => ({
  ref: ref(tradeId),
  atMs,
  quantityG: kg(kilos),
});
const sale = (tradeId: string, atMs: number, kilos: number): Sale => ({
  ...entry(tradeId, atMs, kilos),
  claims: [],
});

function input(over: Partial<ReferenceSheetInput> = {}): ReferenceSheetInput {
  return {
    party: { key: R, kind: 'enterprise', name: '蓬江回收站', division: '440703' },
    period: '2026-10',
    trades: october,
    treatments: TREATMENTS,
    stock: [
      {
        material: 'FE_HEAVY',
        // September: bought 1000 kg (P0), sold 1500 kg (S0) of which 500 kg unsourced.
        purchases: [
          entry('P0', cst(9, 15), 1000),
          entry('P1', cst(10, 1), 1000),
          entry('P2', cst(10, 2), 2000),
          entry('P3', cst(10, 3), 500),
          entry('P4', cst(10, 20), 50000),
        ],
        sales: [sale('S0', cst(9, 20), 1500), sale('S1', cst(10, 5), 2500)],
        unsourced: new Map([['jmrr:S0', kg(500)]]),
        dirty: false,
      },
      {
        material: 'CU',
        // S2 (10-02) comes before R's only copper purchase P3 (10-03): wholly unsourced.
        purchases: [entry('P3', cst(10, 3), 100)],
        sales: [sale('S2', cst(10, 2), 100)],
        unsourced: new Map([['jmrr:S2', kg(100)]]),
        dirty: false,
      },
      {
        material: 'PAPER',
        purchases: [entry('P5', cst(10, 4), 300)],
        sales: [],
        unsourced: new Map(),
        dirty: false,
      },
      {
        // Bought and sold in August: no stock, no movement — left out of the sheet.
        material: 'AL',
        purchases: [entry('PA', cst(8, 1), 200)],
        sales: [sale('SA', cst(8, 2), 200)],
        unsourced: new Map(),
        dirty: false,
      },
    ],
    blueInvoicesReceived: [
      // The reverse invoice R issued for P1: 2200.00 = 2178.22 + 21.78 (1%).
      {
        platform: 'jmrr',
        invoiceNo: '26442000000000000001',
        kind: 'reverse',
        totalExTaxFen: yuan('2178.22'),
        totalTaxFen: yuan('21.78'),
        totalFen: yuan('2200.00'),
      },
      // E's special invoice for P3: 7100.00 = 6283.19 + 816.81 (13%).
      {
        platform: 'jmrr',
        invoiceNo: '26442000000000000002',
        kind: 'special',
        totalExTaxFen: yuan('6283.19'),
        totalTaxFen: yuan('816.81'),
        totalFen: yuan('7100.00'),
      },
    ],
    // A red invoice issued in October reversing a September special invoice to R.
    redInvoicesReceived: [
      {
        platform: 'jmrr',
        invoiceNo: '26442000000000000003',
        kind: 'red',
        totalExTaxFen: -yuan('1000.00'),
        totalTaxFen: -yuan('130.00'),
        totalFen: -yuan('1130.00'),
      },
    ],
    anomalies: [
      { rule: 'UNSOURCED_SALE', status: 'open', severity: 'high', count: 1 },
      { rule: 'THIRD_PARTY_PAYEE', status: 'confirmed', severity: 'high', count: 2 },
      { rule: 'THIRD_PARTY_PAYEE', status: 'open', severity: 'medium', count: 1 },
      // Not open or confirmed: never counted, even if a caller passes it.
      { rule: 'PRICE_DEVIATION', status: 'dismissed', severity: 'medium', count: 1 },
    ],
    ...over,
  };
}

describe('periods', () => {
  it('bounds an Asia/Shanghai calendar month', () => {
    expect(periodBounds('2026-10')).toEqual({
      startMs: Date.parse('2026-10-01T00:00:00+08:00'),
      endMs: Date.parse('2026-11-01T00:00:00+08:00'),
    });
    expect(periodBounds('2026-12').endMs).toBe(Date.parse('2027-01-01T00:00:00+08:00'));
    expect(shanghaiDate(Date.parse('2026-09-30T16:00:00Z'))).toBe('2026-10-01');
    expect(shanghaiDate(Date.parse('2026-09-30T15:59:59.999Z'))).toBe('2026-09-30');
  });

  it('accepts only YYYY-MM from 1900 to 2999', () => {
    for (const p of ['2026-10', '1900-01', '2999-12']) expect(isPeriod(p), p).toBe(true);
    for (const p of [
      '2026-13',
      '2026-00',
      '2026-1',
      '26-10',
      '0099-01',
      '3000-01',
      '2026-10-01',
      ' 2026-10',
      '２０２６-10',
    ]) {
      expect(isPeriod(p), p).toBe(false);
      expect(() => periodBounds(p)).toThrow(RangeError);
    }
  });
});

describe('ratios and rates', () => {
  it('formats ratios with 4 decimals, half-up, null over 0', () => {
    expect(formatRatio(5n, 6n)).toBe('0.8333');
    expect(formatRatio(2n, 3n)).toBe('0.6667');
    expect(formatRatio(1n, 8n)).toBe('0.1250');
    expect(formatRatio(3n, 3n)).toBe('1.0000');
    expect(formatRatio(0n, 3n)).toBe('0.0000');
    expect(formatRatio(1n, 20000n)).toBe('0.0001'); // 0.00005 rounds up
    expect(formatRatio(0n, 0n)).toBeNull();
  });

  it('ratios are exact: never above 1, monotone in the numerator', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 10n ** 15n }),
        fc.bigInt({ min: 0n, max: 10n ** 15n }),
        (d, raw) => {
          const n = raw % (d + 1n);
          const r = formatRatio(n, d)!;
          expect(r).toMatch(/^[01]\.\d{4}$/);
          expect(Number(r) <= 1).toBe(true);
          if (n < d) expect(formatRatio(n, d)! <= formatRatio(n + 1n, d)!).toBe(true);
        },
      ),
    );
  });

  it('finds the levy rate valid on a date, both ends inclusive', () => {
    expect(treatmentOn(TREATMENTS, 'reverse_invoice', '2024-04-28')).toBeNull();
    expect(treatmentOn(TREATMENTS, 'reverse_invoice', '2024-04-29')?.rate.basisPoints).toBe(100n);
    expect(treatmentOn(TREATMENTS, 'small_scale_1', '2027-12-31')?.rate.basisPoints).toBe(100n);
    expect(treatmentOn(TREATMENTS, 'small_scale_1', '2028-01-01')?.rate.basisPoints).toBe(300n);
    expect(treatmentOn(TREATMENTS, 'exempt', '2026-10-01')?.rate.basisPoints).toBe(0n);
    expect(treatmentOn(TREATMENTS, 'nope', '2026-10-01')).toBeNull();
  });
});

describe('the reference sheet, worked by hand', () => {
  const sheet = computeReferenceSheet(input());

  it('purchases and sales by material', () => {
    // Purchases (R is the buyer): P1, P2, P3, P4, P5.
    //   CU:       P3's copper line                       100 kg     6,000.00
    //   FE_HEAVY: P1 1,000 + P2 2,000 + P3 500 + P4 50,000 = 53,500 kg
    //             2,200 + 4,400 + 1,100 + 110,000          = 117,700.00
    //             from persons (P1, P2, P4): 53,000 kg, 116,600.00; all three reverse-invoiced
    //   PAPER:    P5 (person C, 'exempt')                300 kg       480.00, from persons, not reverse-invoiced
    //   total:    5 trades, 6,000 + 117,700 + 480 = 124,180.00; 100 + 53,500 + 300 = 53,900 kg
    //             from persons 116,600 + 480 = 117,080.00 / 53,300 kg; reverse-invoiced 116,600.00 / 53,000 kg
    expect(sheet.purchases).toEqual({
      total: {
        trades: 5,
        amount: '124180.00',
        quantity_kg: '53900.000',
        from_natural_persons: { amount: '117080.00', quantity_kg: '53300.000' },
        reverse_invoiced: { amount: '116600.00', quantity_kg: '53000.000' },
      },
      by_material: [
        {
          material: 'CU',
          trades: 1,
          amount: '6000.00',
          quantity_kg: '100.000',
          from_natural_persons: { amount: '0.00', quantity_kg: '0.000' },
          reverse_invoiced: { amount: '0.00', quantity_kg: '0.000' },
        },
        {
          material: 'FE_HEAVY',
          trades: 4,
          amount: '117700.00',
          quantity_kg: '53500.000',
          from_natural_persons: { amount: '116600.00', quantity_kg: '53000.000' },
          reverse_invoiced: { amount: '116600.00', quantity_kg: '53000.000' },
        },
        {
          material: 'PAPER',
          trades: 1,
          amount: '480.00',
          quantity_kg: '300.000',
          from_natural_persons: { amount: '480.00', quantity_kg: '300.000' },
          reverse_invoiced: { amount: '0.00', quantity_kg: '0.000' },
        },
      ],
    });
    // Sales (R is the seller): S1 FE_HEAVY 2,500 kg 5,600.00; S2 CU 100 kg 6,500.00.
    expect(sheet.sales.total).toEqual({
      trades: 2,
      amount: '12100.00',
      quantity_kg: '2600.000',
      reverse_invoiced: { amount: '0.00', quantity_kg: '0.000' },
    });
    expect(sheet.sales.by_material.map((r) => [r.material, r.trades, r.amount, r.quantity_kg])).toEqual([
      ['CU', 1, '6500.00', '100.000'],
      ['FE_HEAVY', 1, '5600.00', '2500.000'],
    ]);
  });

  it('stock movement: unsourced sales do not consume stock', () => {
    // FE_HEAVY: opening = 1,000 (P0) − (1,500 (S0) − 500 unsourced) = 0
    //           in = 53,500; out = 2,500 (S1 at 10-05 is covered by P1+P2+P3 = 3,500): unsourced 0
    //           closing = 0 + 53,500 − (2,500 − 0) = 51,000
    // CU:       S2 (10-02) before P3 (10-03): 100 kg sold, all unsourced, so 0 out of stock;
    //           closing = 0 + 100 − 0 = 100
    // PAPER:    0 + 300 − 0 = 300
    // AL:       all in August, nothing left and nothing moved: not listed
    expect(sheet.stock).toEqual([
      {
        material: 'CU',
        opening_kg: '0.000',
        in_kg: '100.000',
        out_kg: '0.000',
        unsourced_out_kg: '100.000',
        sold_kg: '100.000',
        closing_kg: '100.000',
        allocation_pending: false,
      },
      {
        material: 'FE_HEAVY',
        opening_kg: '0.000',
        in_kg: '53500.000',
        out_kg: '2500.000',
        unsourced_out_kg: '0.000',
        sold_kg: '2500.000',
        closing_kg: '51000.000',
        allocation_pending: false,
      },
      {
        material: 'PAPER',
        opening_kg: '0.000',
        in_kg: '300.000',
        out_kg: '0.000',
        unsourced_out_kg: '0.000',
        sold_kg: '0.000',
        closing_kg: '300.000',
        allocation_pending: false,
      },
    ]);
  });

  it('flow coverage ratios', () => {
    // 7 trades, Σ total = 2,200 + 4,400 + 7,100 + 110,000 + 480 + 5,600 + 6,500 = 136,280.00
    // payment matched: all but S2 → 6/7 = 0.857142… → 0.8571;
    //   amount (136,280 − 6,500) / 136,280 = 129,780 / 136,280 = 0.952304… → 0.9523
    // weighing matched: P1, P3, P4, S1 → 4/7 = 0.571428… → 0.5714;
    //   amount (2,200 + 7,100 + 110,000 + 5,600) = 124,900 / 136,280 = 0.916495… → 0.9165
    // invoice expected: every trade but P5 (a person, not reverse-invoiced) → 6 trades, 135,800.00
    //   matched: P1, P3 → 2/6 = 0.3333; amount 9,300 / 135,800 = 0.068483… → 0.0685
    expect(sheet.flow_coverage).toEqual({
      trades: 7,
      amount: '136280.00',
      payment: { matched_trades: 6, trade_ratio: '0.8571', amount_ratio: '0.9523' },
      weighing: { matched_trades: 4, trade_ratio: '0.5714', amount_ratio: '0.9165' },
      invoice: {
        expected_trades: 6,
        expected_amount: '135800.00',
        matched_trades: 2,
        trade_ratio: '0.3333',
        amount_ratio: '0.0685',
      },
    });
  });

  it('output tax by treatment: total ÷ (1 + rate) half-up, tax = total − ex', () => {
    // S2 general_13: 6,500.00 ÷ 1.13 = 5,752.2123… → 5,752.21; tax 6,500.00 − 5,752.21 = 747.79
    // S1 simple_3:   5,600.00 ÷ 1.03 = 5,436.8932… → 5,436.89; tax 5,600.00 − 5,436.89 = 163.11
    // total: ex 11,189.10, tax 910.90
    expect(sheet.tax.output_by_treatment).toEqual([
      {
        treatment: 'general_13',
        levy_rate: '0.13',
        trades: 1,
        amount: '6500.00',
        amount_ex_tax: '5752.21',
        tax: '747.79',
        exempt: false,
      },
      {
        treatment: 'simple_3',
        levy_rate: '0.03',
        trades: 1,
        amount: '5600.00',
        amount_ex_tax: '5436.89',
        tax: '163.11',
        exempt: false,
      },
    ]);
    expect(sheet.tax.output_total).toEqual({
      trades: 2,
      amount: '12100.00',
      amount_ex_tax: '11189.10',
      tax: '910.90',
    });
    expect(sheet.tax.output_unrated).toEqual({ trades: 0, amount: '0.00' });
  });

  it('input tax on received invoices, net of red-letter reversals', () => {
    // blue: 2,178.22 + 6,283.19 = 8,461.41 ex; 21.78 + 816.81 = 838.59 tax; 9,300.00 total
    // red:  −1,000.00 ex, −130.00 tax, −1,130.00
    // net:  7,461.41 ex, 708.59 tax, 8,170.00
    expect(sheet.tax.input_on_received_invoices).toEqual({
      by_kind: [
        { kind: 'reverse', invoices: 1, amount_ex_tax: '2178.22', tax: '21.78', amount: '2200.00' },
        { kind: 'special', invoices: 1, amount_ex_tax: '6283.19', tax: '816.81', amount: '7100.00' },
      ],
      blue: { invoices: 2, amount_ex_tax: '8461.41', tax: '838.59', amount: '9300.00' },
      red: { invoices: 1, amount_ex_tax: '-1000.00', tax: '-130.00', amount: '-1130.00' },
      net: { invoices: 3, amount_ex_tax: '7461.41', tax: '708.59', amount: '8170.00' },
    });
  });

  it('reverse-invoice withholding per natural person and month', () => {
    // A (P1, P4): 2,200.00 ÷ 1.01 = 2,178.2178… → 2,178.22; 110,000.00 ÷ 1.01 = 108,910.8910… → 108,910.89
    //   Σ ex = 111,089.11 > 100,000.00 → not exempt; VAT 1% = 1,110.8911 → 1,110.89
    //   IIT 0.5% = 555.44555 → 555.45
    // B (P2): 4,400.00 ÷ 1.01 = 4,356.4356… → 4,356.44 ≤ 100,000 → exempt, VAT 0.00; IIT 21.7822 → 21.78
    // C (P5) is not reverse-invoiced: not here.
    // total: 3 trades, 116,600.00, ex 115,445.55, VAT 1,110.89, IIT 577.23
    expect(sheet.tax.reverse_invoice_withholding).toEqual({
      basis: 'purchases_from_natural_persons',
      persons: 2,
      exempt_persons: 1,
      persons_href: `/v1/parties/${R}/summary/withholding?period=2026-10`,
      total: { trades: 3, amount: '116600.00', amount_ex_tax: '115445.55', vat: '1110.89', iit: '577.23' },
      unrated: { trades: 0, amount: '0.00' },
    });
    // The per-person rows (listed apart, GET …/summary/withholding); the totals above are their sums.
    expect(computeWithholdingRows(input())).toEqual([
      {
        party_key: A,
        name: '甲',
        trades: 2,
        amount: '112200.00',
        amount_ex_tax: '111089.11',
        monthly_exemption: '100000.00',
        exempt: false,
        vat_rate: '0.01',
        vat: '1110.89',
        iit: '555.45',
      },
      {
        party_key: B,
        name: '乙',
        trades: 1,
        amount: '4400.00',
        amount_ex_tax: '4356.44',
        monthly_exemption: '100000.00',
        exempt: true,
        vat_rate: '0.01',
        vat: '0.00',
        iit: '21.78',
      },
    ]);
  });

  it('open and confirmed anomalies by rule', () => {
    expect(sheet.anomalies).toEqual([
      { rule: 'THIRD_PARTY_PAYEE', open: 1, confirmed: 2, total: 3, highest_severity: 'high' },
      { rule: 'UNSOURCED_SALE', open: 1, confirmed: 0, total: 1, highest_severity: 'high' },
    ]);
  });
});

describe('edge cases', () => {
  it('the exemption boundary is inclusive: exactly ¥100,000.00 ex-VAT is exempt, one fen more is not', () => {
    // 101,000.00 ÷ 1.01 = 100,000.00 exactly → exempt; 101,000.02 ÷ 1.01 = 100,000.0198 → 100,000.02 → not exempt
    const at = (amount: string) =>
      computeWithholdingRows(
        input({
          trades: [
            trade('X', cst(10, 1), person(A, '甲'), R, 'reverse_invoice', [['CU', 2000, amount]], null),
          ],
        }),
      )[0]!;
    expect(at('101000.00')).toMatchObject({
      amount_ex_tax: '100000.00',
      exempt: true,
      vat: '0.00',
      iit: '500.00',
    });
    // VAT = 100,000.02 × 1% = 1,000.0002 → 1,000.00; IIT = 500.0001 → 500.00
    expect(at('101000.02')).toMatchObject({
      amount_ex_tax: '100000.02',
      exempt: false,
      vat: '1000.00',
      iit: '500.00',
    });
  });

  it('a natural person’s own sheet: withholding on its own reverse-invoiced sales', () => {
    const sheet = computeReferenceSheet(
      input({ party: { key: A, kind: 'natural_person', name: '甲', division: '440703' } }),
    );
    expect(sheet.tax.reverse_invoice_withholding.basis).toBe('own_sales');
    expect(sheet.tax.reverse_invoice_withholding).toMatchObject({ persons: 1, exempt_persons: 0 });
    expect(
      computeWithholdingRows(
        input({ party: { key: A, kind: 'natural_person', name: '甲', division: '440703' } }),
      ),
    ).toEqual([
      expect.objectContaining({
        party_key: A,
        amount_ex_tax: '111089.11',
        exempt: false,
        vat: '1110.89',
        iit: '555.45',
      }),
    ]);
    // A's sales are P1 and P4, reverse-invoiced: output tax at 1% on each
    // 2,200.00 → 2,178.22 (tax 21.78); 110,000.00 → 108,910.89 (tax 1,089.11)
    expect(sheet.tax.output_by_treatment).toEqual([
      {
        treatment: 'reverse_invoice',
        levy_rate: '0.01',
        trades: 2,
        amount: '112200.00',
        amount_ex_tax: '111089.11',
        tax: '1110.89',
        exempt: false,
      },
    ]);
    expect(sheet.purchases.total.trades).toBe(0);
    // A person holds no stock: their own scrap is an origin, not an unsourced sale.
    expect(sheet.stock).toEqual([]);
  });

  it('a natural person within the monthly exemption: their own reverse-invoiced sales carry no output VAT', () => {
    // A sells only P1 this time: 2,200.00, i.e. 2,178.22 excluding VAT ≤ ¥100,000 — exempt.
    const sheet = computeReferenceSheet(
      input({
        party: { key: A, kind: 'natural_person', name: '甲', division: '440703' },
        trades: [
          trade(
            'P1',
            cst(10, 1),
            person(A, '甲'),
            R,
            'reverse_invoice',
            [['FE_HEAVY', 1000, '2200.00']],
            null,
          ),
        ],
        stock: [],
      }),
    );
    expect(sheet.tax.reverse_invoice_withholding).toMatchObject({ persons: 1, exempt_persons: 1 });
    expect(sheet.tax.output_by_treatment).toEqual([
      {
        treatment: 'reverse_invoice',
        levy_rate: '0.01',
        trades: 1,
        amount: '2200.00',
        // Excluding VAT by the levy rate (DOMAIN.md 5), as the exemption is tested and the
        // withholding row shows; exempt, so no tax.
        amount_ex_tax: '2178.22',
        tax: '0.00',
        exempt: true,
      },
    ]);
    expect(sheet.tax.output_total).toEqual({
      trades: 1,
      amount: '2200.00',
      amount_ex_tax: '2178.22',
      tax: '0.00',
    });
    expect(sheet.tax.reverse_invoice_withholding.total).toMatchObject({
      amount_ex_tax: '2178.22',
      vat: '0.00',
    });
  });

  it('sales on a date without a levy rate are shown apart, never guessed', () => {
    const sheet = computeReferenceSheet(
      input({
        period: '2024-03',
        trades: [
          trade('OLD', cst(3, 10, 10, 2024), ent(R), M, 'reverse_invoice', [['CU', 10, '500.00']], null),
          trade('OK', cst(3, 11, 10, 2024), ent(R), M, 'simple_3', [['CU', 10, '1030.00']], null),
        ],
        stock: [],
      }),
    );
    expect(sheet.tax.output_by_treatment).toEqual([
      {
        treatment: 'reverse_invoice',
        levy_rate: null,
        trades: 1,
        amount: '500.00',
        amount_ex_tax: null,
        tax: null,
        exempt: false,
      },
      {
        treatment: 'simple_3',
        levy_rate: '0.03',
        trades: 1,
        amount: '1030.00',
        amount_ex_tax: '1000.00',
        tax: '30.00',
        exempt: false,
      },
    ]);
    expect(sheet.tax.output_total).toEqual({
      trades: 1,
      amount: '1030.00',
      amount_ex_tax: '1000.00',
      tax: '30.00',
    });
    expect(sheet.tax.output_unrated).toEqual({ trades: 1, amount: '500.00' });
  });

  it('an empty month: zeros and null ratios', () => {
    const sheet = computeReferenceSheet(
      input({ trades: [], stock: [], blueInvoicesReceived: [], redInvoicesReceived: [], anomalies: [] }),
    );
    expect(sheet.flow_coverage.payment).toEqual({ matched_trades: 0, trade_ratio: null, amount_ratio: null });
    expect(sheet.purchases.by_material).toEqual([]);
    expect(sheet.tax.reverse_invoice_withholding.total.vat).toBe('0.00');
  });

  it('stale or pending allocation: the stream is allocated from its entries, and flagged', () => {
    const base = input().stock[0]!;
    // sale_results lost S0's unsourced part: the opening would be 1,000 − 1,500 < 0.
    const stale = computeReferenceSheet(input({ stock: [{ ...base, unsourced: new Map() }] })).stock[0]!;
    // A dirty mark: recomputed the same way even though the stored results fit.
    const dirty = computeReferenceSheet(input({ stock: [{ ...base, dirty: true }] })).stock[0]!;
    const clean = computeReferenceSheet(input()).stock.find((s) => s.material === 'FE_HEAVY')!;
    for (const s of [stale, dirty]) {
      expect(s).toEqual({ ...clean, allocation_pending: true });
    }
  });

  it('a self-trade counts as a purchase and a sale, but once for coverage', () => {
    const sheet = computeReferenceSheet(
      input({
        trades: [trade('SELF', cst(10, 1), ent(R), R, 'simple_3', [['CU', 10, '1030.00']], ok)],
        stock: [],
      }),
    );
    expect(sheet.purchases.total.trades).toBe(1);
    expect(sheet.sales.total.trades).toBe(1);
    expect(sheet.flow_coverage.trades).toBe(1);
  });
});

describe('the income-tax prepay rate is reference data', () => {
  it('without a rate in force, nothing is computed as withheld', () => {
    const withRate = computeReferenceSheet(input({ treatments: TREATMENTS }));
    const withoutRate = computeReferenceSheet(
      input({ treatments: TREATMENTS.filter((t) => t.code !== 'iit_reverse_invoice') }),
    );
    expect(withoutRate.tax.reverse_invoice_withholding.total.iit).toBe('0.00');
    expect(withRate.tax.reverse_invoice_withholding.total.iit).not.toBe('0.00');
  });

  it("each trade's income tax is at the rate in force on its day, not on the month's first", () => {
    // 1% from Oct 20 (an administrator's change). P1 on Oct 10: 20,200.00 → ex 20,000.00, IIT
    // 0.5% = 100.00; P2 on Oct 22: 30,300.00 → ex 30,000.00, IIT 1% = 300.00.
    const treatments: TreatmentRow[] = [
      ...TREATMENTS.filter((t) => t.code !== 'iit_reverse_invoice'),
      {
        code: 'iit_reverse_invoice',
        validFrom: '2024-04-29',
        validTo: '2026-10-19',
        levyRate: '0.0050',
        monthlyExemptionFen: null,
      },
      {
        code: 'iit_reverse_invoice',
        validFrom: '2026-10-20',
        validTo: null,
        levyRate: '0.0100',
        monthlyExemptionFen: null,
      },
    ];
    const sheet = computeReferenceSheet(
      input({
        treatments,
        trades: [
          trade(
            'P1',
            cst(10, 10),
            person(A, '甲'),
            R,
            'reverse_invoice',
            [['FE_HEAVY', 1000, '20200.00']],
            null,
          ),
          trade(
            'P2',
            cst(10, 22),
            person(A, '甲'),
            R,
            'reverse_invoice',
            [['FE_HEAVY', 1000, '30300.00']],
            null,
          ),
        ],
        stock: [],
      }),
    );
    expect(sheet.tax.reverse_invoice_withholding.total).toMatchObject({
      amount_ex_tax: '50000.00',
      iit: '400.00',
    });

    // Reverse invoicing (and its prepayment) began on 2024-04-29: a trade of Apr 30 has its IIT
    // (16,000.00 → ex 15,841.58 × 0.5% = 79.2079 → 79.21), though Apr 1 had no rate.
    const april = computeReferenceSheet(
      input({
        period: '2024-04',
        trades: [
          trade(
            'P3',
            cst(4, 30, 10, 2024),
            person(A, '甲'),
            R,
            'reverse_invoice',
            [['FE_HEAVY', 1000, '16000.00']],
            null,
          ),
        ],
        stock: [],
      }),
    );
    expect(april.tax.reverse_invoice_withholding.total).toMatchObject({
      amount_ex_tax: '15841.58',
      iit: '79.21',
    });
  });
});

describe('laws of the sheet', () => {
  // Random months of R: purchases from three persons and an enterprise, sales to M, any treatment,
  // one to three lines of two materials, flows matched or not.
  const sellers = [person(A, '甲'), person(B, '乙'), person(C, '丙'), ent(E)];
  const arbTrade = fc
    .record({
      day: fc.integer({ min: 1, max: 31 }),
      hour: fc.integer({ min: 0, max: 23 }),
      sale: fc.boolean(),
      seller: fc.constantFrom(...sellers),
      treatment: fc.constantFrom('reverse_invoice', 'simple_3', 'general_13', 'exempt'),
      lines: fc.array(
        fc.tuple(
          fc.constantFrom('FE_HEAVY', 'CU'),
          fc.integer({ min: 1, max: 60_000 }),
          fc.integer({ min: 1, max: 20_000_000 }),
        ),
        { minLength: 1, maxLength: 3 },
      ),
      matched: fc.boolean(),
    })
    .map((r) =>
      trade(
        'T',
        cst(10, r.day, r.hour),
        r.sale ? ent(R) : r.seller,
        r.sale ? M : R,
        r.treatment,
        r.lines.map(([m, kilos, fen]): [string, number, string] => [
          m,
          kilos,
          `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`,
        ]),
        r.matched ? ok : null,
      ),
    );
  // Trade ids are unique within a month's data.
  const arbMonth = fc
    .array(arbTrade, { maxLength: 30 })
    .map((ts) => ts.map((t, i) => ({ ...t, tradeId: `T${i}` })));

  it('order of the trades does not matter, and the withholding total is the sum of the per-person rows', () => {
    fc.assert(
      fc.property(arbMonth, fc.infiniteStream(fc.integer()), (trades, noise) => {
        const sheet = computeReferenceSheet(input({ trades }));
        const shuffled = trades
          .map((t) => ({ t, k: noise.next().value as number }))
          .sort((a, b) => a.k - b.k)
          .map((x) => x.t);
        expect(computeReferenceSheet(input({ trades: shuffled }))).toEqual(sheet);
        const rows = computeWithholdingRows(input({ trades }));
        const w = sheet.tax.reverse_invoice_withholding;
        expect(rows.length).toBe(w.persons);
        expect(rows.filter((r) => r.exempt).length).toBe(w.exempt_persons);
        const sum = (f: 'amount' | 'amount_ex_tax' | 'vat' | 'iit') =>
          rows.reduce((s, r) => s + yuan(r[f]), 0n);
        expect({
          trades: rows.reduce((s, r) => s + r.trades, 0),
          amount: sum('amount'),
          ex: sum('amount_ex_tax'),
          vat: sum('vat'),
          iit: sum('iit'),
        }).toEqual({
          trades: w.total.trades,
          amount: yuan(w.total.amount),
          ex: yuan(w.total.amount_ex_tax),
          vat: yuan(w.total.vat),
          iit: yuan(w.total.iit),
        });
      }),
      { numRuns: 200 },
    );
  });
});
