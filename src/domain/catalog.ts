/**
 * Seed reference data as typed constants (DOMAIN.md sections 4–5). The database is the source of
 * truth at run time (sql/202611280110_reference_data.sql seeds the same values, and administrators
 * extend them); these constants serve tests, the simulator, and the enums of the wire contract.
 */

/** VAT treatments a trade can declare (CONTRACT.md 1.3). */
export const TAX_TREATMENTS = [
  'simple_3',
  'general_13',
  'small_scale_1',
  'reverse_invoice',
  'exempt',
] as const;
export type TaxTreatment = (typeof TAX_TREATMENTS)[number];

export const PARTY_ROLES = [
  'generator',
  'recycler',
  'sorting_center',
  'utilizer',
  'hazardous_licensed',
] as const;
export type PartyRole = (typeof PARTY_ROLES)[number];

export const PARTY_KINDS = ['enterprise', 'natural_person'] as const;
export type PartyKind = (typeof PARTY_KINDS)[number];

export const TAXPAYER_KINDS = ['general', 'small_scale'] as const;
export type TaxpayerKind = (typeof TAXPAYER_KINDS)[number];

export const PAYMENT_CHANNELS = ['bank_transfer', 'wechat_pay', 'alipay', 'cash', 'other'] as const;
export type PaymentChannel = (typeof PAYMENT_CHANNELS)[number];

/** special = 增值税专用发票, ordinary = 普通发票, reverse = 反向开票 (issued by the buyer for a natural person). */
export const INVOICE_KINDS = ['special', 'ordinary', 'reverse'] as const;
export type InvoiceKind = (typeof INVOICE_KINDS)[number];

export interface SeedMaterial {
  readonly code: string;
  readonly name_zh: string;
  readonly name_en: string;
  /** Hazardous waste: may only be sold to a buyer with the `hazardous_licensed` role. */
  readonly hazardous: boolean;
  /** The unit reference prices are quoted in. */
  readonly unit: 't';
  /** Illustrative reference price, fen per tonne, tax inclusive (replaced by the bureau's monthly table). */
  readonly reference_price_fen_per_t: bigint;
  readonly default_treatment: TaxTreatment;
}

/**
 * The seed material catalog. Every material defaults to `simple_3`: the typical sale Retrace
 * sees is a filed recycler (or a hazardous-waste licence holder, or an end-of-life-vehicle
 * dismantler) reselling scrap it bought, which 财政部 税务总局公告2021年第40号 puts under the simple
 * method at 3% — and that notice covers every category below, the hazardous ones through the
 * licence. The treatment a trade actually gets depends on the seller (a natural person's sale is
 * `reverse_invoice`, a generator's own scrap `general_13`) and is declared on each trade.
 */
export const SEED_MATERIALS: readonly SeedMaterial[] = [
  material('FE_HEAVY', '重型废钢', 'heavy scrap steel', false, 2_200),
  material('FE_LIGHT', '轻薄料废钢', 'light scrap steel', false, 1_900),
  material('FE_CAST', '废铸铁', 'scrap cast iron', false, 2_100),
  material('SS', '废不锈钢', 'scrap stainless steel', false, 9_000),
  material('CU', '废铜', 'scrap copper', false, 60_000),
  material('AL', '废铝', 'scrap aluminium', false, 16_000),
  material('PB_BATTERY', '废铅蓄电池', 'waste lead-acid batteries', true, 9_500),
  material('LI_BATTERY', '废锂电池', 'waste lithium batteries', false, 12_000),
  material('PAPER', '废纸', 'waste paper', false, 1_600),
  material('PLASTIC', '废塑料', 'waste plastics', false, 3_500),
  material('TIRE', '废轮胎', 'waste tyres', false, 1_000),
  material('WEEE', '废弃电器电子产品', 'waste electrical and electronic equipment', false, 2_000),
  material('ELV', '报废机动车', 'end-of-life vehicles', false, 2_000),
  material('GLASS', '废玻璃', 'waste glass', false, 300),
  material('TEXTILE', '废旧纺织品', 'waste textiles', false, 1_200),
  material('OIL', '废矿物油', 'waste mineral oil', true, 3_000),
];

function material(
  code: string,
  name_zh: string,
  name_en: string,
  hazardous: boolean,
  yuanPerT: number,
): SeedMaterial {
  return {
    code,
    name_zh,
    name_en,
    hazardous,
    unit: 't',
    reference_price_fen_per_t: BigInt(yuanPerT) * 100n,
    default_treatment: 'simple_3',
  };
}

/** Codes of the seed catalog (handy as a `ValidationContext.materials` in tests). */
export const SEED_MATERIAL_CODES: ReadonlySet<string> = new Set(SEED_MATERIALS.map((m) => m.code));

export interface SeedTaxTreatment {
  readonly code: TaxTreatment;
  /** Levy rate as a decimal string (parse with money.ts `parseRate`). */
  readonly rate: string;
  /** First day the row applies (YYYY-MM-DD, inclusive). */
  readonly valid_from: string;
  /** Last day the row applies (inclusive), or null while open-ended. */
  readonly valid_to: string | null;
  /** Monthly sales excluding VAT, in fen, up to which a natural person's sales are exempt. */
  readonly monthly_exemption_threshold_fen: bigint | null;
  readonly description: string;
}

/**
 * VAT treatments with their effective periods, one row per (code, period) — the same rows as the
 * SQL seed. The 1% reduction for small-scale and reverse-invoiced sales ends on 2027-12-31
 * (财政部 税务总局公告2023年第19号); the following rows at 3% keep later periods defined until an
 * administrator records whatever the VAT Law's rules then are. `exempt` has no statutory start
 * and is valid from 2000-01-01, i.e. before any data Retrace holds.
 */
export const SEED_TAX_TREATMENTS: readonly SeedTaxTreatment[] = [
  {
    code: 'simple_3',
    rate: '0.03',
    valid_from: '2022-03-01',
    valid_to: null,
    monthly_exemption_threshold_fen: null,
    description: 'simple method 3% for a filed recycler reselling bought scrap (财税公告2021年第40号)',
  },
  {
    code: 'general_13',
    rate: '0.13',
    valid_from: '2019-04-01',
    valid_to: null,
    monthly_exemption_threshold_fen: null,
    description: 'general method 13%',
  },
  {
    code: 'small_scale_1',
    rate: '0.01',
    valid_from: '2023-01-01',
    valid_to: '2027-12-31',
    monthly_exemption_threshold_fen: null,
    description: 'small-scale taxpayer, 3% reduced to 1% (财税公告2023年第19号)',
  },
  {
    code: 'small_scale_1',
    rate: '0.03',
    valid_from: '2028-01-01',
    valid_to: null,
    monthly_exemption_threshold_fen: null,
    description: 'small-scale taxpayer after the reduction ends',
  },
  {
    code: 'reverse_invoice',
    rate: '0.01',
    valid_from: '2024-04-29',
    valid_to: '2027-12-31',
    monthly_exemption_threshold_fen: 10_000_000n, // ¥100,000.00
    description:
      'reverse invoicing for natural persons (税务总局公告2024年第5号), exempt up to ¥100,000 a month',
  },
  {
    code: 'reverse_invoice',
    rate: '0.03',
    valid_from: '2028-01-01',
    valid_to: null,
    monthly_exemption_threshold_fen: 10_000_000n, // ¥100,000.00
    description: 'reverse invoicing after the small-scale reduction ends',
  },
  {
    code: 'exempt',
    rate: '0',
    valid_from: '2000-01-01',
    valid_to: null,
    monthly_exemption_threshold_fen: null,
    description: 'exempt',
  },
];

/** The seed treatment row in force on `date` (YYYY-MM-DD), or undefined when none is. */
export function seedTaxTreatmentOn(code: TaxTreatment, date: string): SeedTaxTreatment | undefined {
  return SEED_TAX_TREATMENTS.find(
    (t) => t.code === code && t.valid_from <= date && (t.valid_to === null || date <= t.valid_to),
  );
}
