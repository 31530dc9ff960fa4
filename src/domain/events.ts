/**
 * Validation of inbound platform events (CONTRACT.md 1.1–1.3).
 *
 * Two passes, both run on every event so that a client sees ALL its mistakes at once:
 * 1. the zod schemas below check the shape and each field's own format (these schemas are also
 *    what the OpenAPI document shows);
 * 2. `rules` check what one field cannot see alone: arithmetic (line amounts, totals, net weight,
 *    tax), the catalog (materials are DB-driven, passed in a {@link ValidationContext}), invoice
 *    number forms, party kinds by role, duplicates. A rule looks at the raw input and runs only on
 *    the fields it needs that are themselves well-formed, so it never repeats an error of pass 1.
 *
 * The parsed data keeps the wire strings: money, quantities and rates are converted to fen, grams
 * and basis points later, through money.ts.
 */
import { z } from 'zod';
import {
  INVOICE_KINDS,
  PARTY_KINDS,
  PARTY_ROLES,
  PAYMENT_CHANNELS,
  TAX_TREATMENTS,
  TAXPAYER_KINDS,
} from './catalog';
import {
  canonicalInvoiceNo,
  INVOICE_NO_PATTERN,
  isRealBirthDate,
  isValidDivision,
  isValidPlate,
  LEGACY_INVOICE_CODE_PATTERN,
  LEGACY_INVOICE_NUMBER_PATTERN,
  PROVINCE_CODES,
  residentIdCheckChar,
  USCC_ALPHABET,
  usccCheckChar,
} from './ids';
import {
  formatKg,
  formatMoney,
  KG_PATTERN,
  lineAmountFen,
  MONEY_PATTERN,
  NON_NEGATIVE_MONEY_PATTERN,
  parseKg,
  parseMoney,
  parseQuantity,
  parseRate,
  parseUnitPrice,
  QUANTITY_PATTERN,
  QUANTITY_UNITS,
  type QuantityUnit,
  RATE_PATTERN,
  taxOf,
  UNIT_PRICE_PATTERN,
} from './money';
import { isRecordDate, isRecordTime, shanghaiDate } from './time';

export const EVENT_TYPES = [
  'party.registered',
  'trade.created',
  'trade.amended',
  'trade.cancelled',
  'payment.made',
  'payment.reversed',
  'weighing.recorded',
  'invoice.issued',
  'invoice.reversed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** What validation needs from the database: the material codes currently in the catalog. */
export interface ValidationContext {
  materials: ReadonlySet<string>;
}

/** One validation error; `pointer` is an RFC 6901 JSON Pointer into the request body. */
export interface FieldError {
  pointer: string;
  message: string;
}

export type RecordKind = 'party' | 'trade' | 'payment' | 'payment_reversal' | 'weighing' | 'invoice';

/**
 * The record an event writes, within its platform. `version` is null for `party` (master data:
 * the latest event timestamp wins, never a conflict), the trade's `version` for trades, and 1 for
 * the immutable documents (payments, reversals, weighings, invoices).
 */
export interface RecordIdentity {
  kind: RecordKind;
  key: string;
  version: number | null;
}

// ---------------------------------------------------------------------------------------------
// Field schemas
// ---------------------------------------------------------------------------------------------

type IssueInput = { input?: unknown };

/** Error function for a schema: "is required" when absent, `message` for any other problem. */
function required(message: string) {
  return (iss: IssueInput) => (iss.input === undefined ? 'is required' : message);
}

const NOT_A_NUMBER = 'must be a decimal string, not a JSON number';

/** Type error of a decimal-string field: a JSON number gets a message of its own. */
function decimalTypeError(iss: IssueInput): string {
  if (iss.input === undefined) return 'is required';
  return typeof iss.input === 'number' ? NOT_A_NUMBER : 'must be a decimal string';
}

const money = (s: string) => parseMoney(s, { allowNegative: true });

type Sign = 'positive' | 'non_negative' | 'negative' | 'non_positive';

/** A CNY amount as a decimal string, with a sign constraint. */
function moneySchema(sign: Sign, description: string, example: string) {
  const signed = sign === 'negative' || sign === 'non_positive';
  let s = z
    .string({ error: decimalTypeError })
    .regex(
      new RegExp(signed ? MONEY_PATTERN : NON_NEGATIVE_MONEY_PATTERN),
      signed
        ? 'must be a CNY amount with at most 2 decimals, e.g. "-30245.25"'
        : 'must be a non-negative CNY amount with at most 2 decimals, e.g. "30245.25"',
    );
  if (sign === 'positive') s = s.refine((v) => (money(v) ?? 1n) > 0n, 'must be greater than 0');
  if (sign === 'negative') {
    s = s.refine((v) => (money(v) ?? -1n) < 0n, 'must be negative: a red-letter invoice reverses amounts');
  }
  if (sign === 'non_positive') {
    s = s.refine(
      (v) => (money(v) ?? 0n) <= 0n,
      'must not be positive: a red-letter invoice reverses amounts',
    );
  }
  return s.meta({ description, example });
}

/** A quantity as a decimal string; precision by unit (kg: 3 decimals, t: 6) is a rule, see below. */
function quantitySchema(sign: 'positive' | 'non_positive', description: string, example: string) {
  if (sign === 'positive') {
    return z
      .string({ error: decimalTypeError })
      .regex(
        new RegExp(QUANTITY_PATTERN),
        'must be a non-negative decimal string with at most gram precision (kg: 3 decimals, t: 6), e.g. "12.345"',
      )
      .refine((v) => (parseQuantity(v, 't') ?? 1n) > 0n, 'must be greater than 0')
      .meta({ description, example });
  }
  return z
    .string({ error: decimalTypeError })
    .regex(
      /^(0|-(0|[1-9]\d{0,14})(\.\d{1,6})?)$/,
      'must be a negative decimal string (or "0") with at most gram precision (kg: 3 decimals, t: 6), e.g. "-12.345"',
    )
    .meta({ description, example });
}

function kgSchema(sign: 'positive' | 'non_negative', description: string, example: string) {
  const s = z
    .string({ error: decimalTypeError })
    .regex(
      new RegExp(KG_PATTERN),
      'must be a non-negative kg decimal string with at most 3 decimals, e.g. "30120.5"',
    );
  return (sign === 'positive' ? s.refine((v) => (parseKg(v) ?? 1n) > 0n, 'must be greater than 0') : s).meta({
    description,
    example,
  });
}

const unitPriceSchema = z
  .string({ error: decimalTypeError })
  .regex(
    new RegExp(UNIT_PRICE_PATTERN),
    'must be a non-negative CNY price with at most 4 decimals, e.g. "2200.00" or "2.355"',
  )
  .meta({
    description:
      'Price in CNY per `unit`, tax inclusive, at most 4 decimals (per-kg prices are often quoted to 3: "2.355")',
    example: '2200.00',
  });

const rateSchema = z
  .string({ error: decimalTypeError })
  .regex(new RegExp(RATE_PATTERN), 'must be a decimal string in [0, 1) with at most 4 decimals, e.g. "0.03"')
  .meta({ description: 'VAT rate as a decimal string', example: '0.03' });

const unitSchema = z.enum(QUANTITY_UNITS).meta({ description: 'Unit of `quantity`: tonnes or kilograms' });

const timestampSchema = (description: string) =>
  z.iso
    .datetime({
      offset: true,
      abort: true,
      error: required('must be an RFC 3339 date-time with a UTC offset, e.g. "2026-10-02T08:15:00+08:00"'),
    })
    .refine((v) => isRecordTime(Date.parse(v)), 'must fall in the years 1900–2999 (Asia/Shanghai)')
    .meta({ description, example: '2026-10-02T08:15:00+08:00' });

const dateSchema = (description: string) =>
  z.iso
    .date({ abort: true, error: required('must be a real calendar date YYYY-MM-DD, e.g. "2019-06-18"') })
    .refine(isRecordDate, 'must fall in the years 1900–2999')
    .meta({ description, example: '2019-06-18' });

/** A platform's identifier or document number: 1–128 characters, no surrounding whitespace. */
const idSchema = (description: string, example: string, max = 128) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^(?!\s)[\s\S]*(?<!\s)$/, 'must not begin or end with whitespace')
    .meta({ description, example });

/** Free text that must say something: trimmed, then non-empty. */
const textSchema = (description: string, max: number, example?: string) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .meta(example === undefined ? { description } : { description, example });

const nameSchema = textSchema('Name as registered or on the identity card (trimmed, 1–200 characters)', 200);

function usccProblem(s: string): string | null {
  if (s.length !== 18) return 'must be an 18-character unified social credit code (统一社会信用代码)';
  if (/[a-z]/.test(s)) return 'must be written in upper case';
  if ([...s].some((c) => !USCC_ALPHABET.includes(c))) {
    return 'must use only the GB 32100 characters 0-9 and A-Z without I, O, S, V, Z';
  }
  if (!/^\d{6}$/.test(s.slice(2, 8))) return 'characters 3–8 must be the 6-digit division code';
  if (usccCheckChar(s.slice(0, 17)) !== s[17]) return 'fails the GB 32100 check character';
  return null;
}

export const usccSchema = z
  .string()
  .superRefine((s, ctx) => {
    const problem = usccProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({
    description: '统一社会信用代码 (GB 32100-2015): 18 characters, upper case, with a valid check character',
    example: '91350100M000100Y43',
  });

function residentIdProblem(s: string): string | null {
  if (s.length !== 18) return 'must be an 18-character resident id number (居民身份证号码)';
  if (/^\d{17}x$/.test(s)) return 'check character must be an upper-case X';
  if (!/^\d{17}[\dX]$/.test(s)) return 'must be 17 digits followed by a digit or X';
  if (!isRealBirthDate(s.slice(6, 14))) return 'digits 7–14 must be a real birth date (YYYYMMDD, from 1900)';
  // Nobody selling scrap today was born after today (Asia/Shanghai): a later date is a typo. What
  // passes once passes for ever, so a replay never turns an accepted id into a rejected one.
  if (s.slice(6, 14) > shanghaiDate(Date.now()).replaceAll('-', ''))
    return 'digits 7–14 must be a birth date not after today';
  if (residentIdCheckChar(s.slice(0, 17)) !== s[17]) return 'fails the GB 11643 check character';
  return null;
}

export const residentIdSchema = z
  .string()
  .superRefine((s, ctx) => {
    const problem = residentIdProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({
    description: '居民身份证号码 (GB 11643): 17 digits and a check character 0-9 or upper-case X',
    example: '11010519491231002X',
  });

function divisionProblem(s: string): string | null {
  if (!/^\d{6}$/.test(s))
    return 'must be a 6-digit administrative division code (行政区划代码), e.g. "440703"';
  if (!PROVINCE_CODES.has(s.slice(0, 2)))
    return `starts with "${s.slice(0, 2)}", which is not a province code`;
  if (!isValidDivision(s)) return 'must be a prefecture or county code, not a whole province (….0000)';
  return null;
}

export const divisionSchema = z
  .string()
  .superRefine((s, ctx) => {
    const problem = divisionProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({
    description: '6-digit administrative division code (行政区划代码) below province level',
    example: '440703',
  });

const materialSchema = z
  .string()
  .min(1)
  .max(32)
  .meta({ description: 'Material code from the catalog (e.g. FE_HEAVY, CU, PAPER)', example: 'FE_HEAVY' });

function coordinateSchema(min: number, max: number, description: string, example: number) {
  const decimal = /^-?\d{1,3}(\.\d{1,12})?$/;
  const message = 'must be a number or a decimal string';
  return z
    .union([z.number(), z.string().regex(decimal, message)], { error: required(message) })
    .refine((v) => {
      if (typeof v === 'string' && !decimal.test(v)) return true; // reported by the regex
      const n = typeof v === 'number' ? v : Number(v);
      return n >= min && n <= max;
    }, `must be between ${min} and ${max}`)
    .meta({ description, example });
}

// ---------------------------------------------------------------------------------------------
// Object schemas
// ---------------------------------------------------------------------------------------------

export const enterprisePartySchema = z
  .object({ kind: z.literal('enterprise'), uscc: usccSchema, name: nameSchema })
  .meta({ description: 'An enterprise, identified by its USCC' });

export const naturalPersonPartySchema = z
  .object({ kind: z.literal('natural_person'), id_number: residentIdSchema, name: nameSchema })
  .meta({ description: 'A natural person (散户), identified by a resident id number' });

/** A trade's buyer: always an enterprise (CONTRACT.md 1.3), so the OpenAPI document says so too. */
const tradeBuyerSchema = z
  .object({
    kind: z.literal('enterprise', {
      error: required('must be "enterprise": the buyer of a trade must be an enterprise'),
    }),
    uscc: usccSchema,
    name: nameSchema,
  })
  .meta({ description: 'The buyer: an enterprise, identified by its USCC' });

export const partySchema = z
  .discriminatedUnion('kind', [enterprisePartySchema, naturalPersonPartySchema])
  .meta({ description: 'A party to a trade, payment or invoice' });

export const locationSchema = z
  .object({
    lat: coordinateSchema(-90, 90, 'Latitude in degrees (WGS 84), number or decimal string', 22.5789),
    lon: coordinateSchema(-180, 180, 'Longitude in degrees (WGS 84), number or decimal string', 113.0815),
  })
  .meta({ description: 'Where the site is; the travel rules need it' });

export const siteSchema = z
  .object({
    code: idSchema('The platform’s code of the site (station, yard, weighbridge)', 'JM-PJ-007', 64),
    division: divisionSchema,
    location: locationSchema.optional(),
  })
  .meta({ description: 'Where the goods changed hands or were weighed' });

export const tradeLineSchema = z.object({
  material: materialSchema,
  description: z.string().max(500).optional().meta({ description: 'Free text from the platform' }),
  quantity: quantitySchema(
    'positive',
    'Quantity in `unit`, greater than 0, at most gram precision (kg: 3 decimals, t: 6)',
    '12.345',
  ),
  unit: unitSchema,
  unit_price: unitPriceSchema,
  amount: moneySchema(
    'non_negative',
    'quantity × unit_price, rounded half-up to the fen (tolerance ±0.01), tax inclusive',
    '27159.00',
  ),
});

export const upstreamClaimSchema = z
  .object({
    trade_id: idSchema('A purchase of the seller this sale comes from', 'T-2026-000117'),
    quantity: quantitySchema('positive', 'Quantity taken from that purchase', '5.000'),
    unit: unitSchema,
  })
  .meta({ description: 'Declared provenance: which of the seller’s purchases this sale comes from' });

const tradeFields = {
  trade_id: idSchema('The platform’s trade id', 'T-2026-000123'),
  occurred_at: timestampSchema('When the trade was concluded'),
  seller: partySchema,
  buyer: tradeBuyerSchema,
  site: siteSchema,
  lines: z.array(tradeLineSchema).min(1).meta({ description: 'At least one line' }),
  total_amount: moneySchema('non_negative', 'Σ line amounts, tax inclusive', '27159.00'),
  tax_treatment: z.enum(TAX_TREATMENTS).meta({ description: 'VAT treatment the trade is declared under' }),
  upstream: z.array(upstreamClaimSchema).optional(),
};
const { trade_id: tradeIdSchema, ...tradeBody } = tradeFields;

const versionSchema = (min: number, message: string) =>
  z
    .number({ error: required('must be an integer') })
    .int('must be an integer')
    .min(min, message)
    .max(2_147_483_647, 'must be at most 2147483647');

export const tradeCreatedDataSchema = z
  .object({
    trade_id: tradeIdSchema,
    version: z
      .literal(1, {
        error: required('must be 1 for trade.created (changes are trade.amended with a higher version)'),
      })
      .meta({ description: 'Always 1 on creation' }),
    ...tradeBody,
  })
  .meta({ description: 'A new trade' });

export const tradeAmendedDataSchema = z
  .object({
    trade_id: tradeIdSchema,
    version: versionSchema(2, 'must be at least 2: version 1 is trade.created').meta({
      description: 'Higher than every earlier version of the trade',
      example: 2,
    }),
    ...tradeBody,
  })
  .meta({ description: 'A new version of a trade, replacing the earlier ones' });

export const tradeCancelledDataSchema = z
  .object({
    trade_id: tradeIdSchema,
    version: versionSchema(2, 'must be at least 2: a cancellation is a new version of the trade').meta({
      description: 'Higher than every earlier version of the trade',
      example: 2,
    }),
    reason: textSchema('Why the trade was cancelled', 500, 'buyer withdrew'),
  })
  .meta({ description: 'Cancels a trade (as a new version)' });

export const paymentAccountSchema = z.object({
  account_name: textSchema('Account holder’s name', 200),
  account_no: z
    .string()
    .regex(
      /^(?=.*[0-9A-Za-z])[0-9A-Za-z -]{1,40}$/,
      'must be 1–40 characters of digits, letters, spaces and hyphens',
    )
    .meta({
      description: 'Account number (bank card, WeChat or Alipay account id)',
      example: '6222020200001234010',
    }),
  party: partySchema
    .optional()
    .meta({ description: 'The party holding the account, when the platform knows it' }),
});

export const paymentMadeDataSchema = z
  .object({
    payment_id: idSchema('The platform’s payment id', 'P-2026-000456'),
    trade_ids: z
      .array(idSchema('A trade this payment pays', 'T-2026-000123'))
      .meta({ description: 'Trades paid (no duplicates; may be empty for a transfer not tied to a trade)' }),
    paid_at: timestampSchema('When the money moved'),
    amount: moneySchema('positive', 'Amount paid, greater than 0', '27159.00'),
    channel: z.enum(PAYMENT_CHANNELS),
    payer: paymentAccountSchema,
    payee: paymentAccountSchema,
    serial_no: idSchema(
      'Bank or payment-channel serial number (data, not a key)',
      '20261002123456789',
      64,
    ).optional(),
  })
  .meta({ description: 'A payment (immutable; corrected by payment.reversed)' });

export const paymentReversedDataSchema = z
  .object({
    payment_id: idSchema('The payment being reversed', 'P-2026-000456'),
    reversed_at: timestampSchema('When the payment was reversed'),
    reason: textSchema('Why', 500, 'refund: goods rejected'),
  })
  .meta({ description: 'Reverses a payment' });

export const weighingRecordedDataSchema = z
  .object({
    weighing_id: idSchema('The platform’s weighing record id', 'W-2026-000789'),
    ticket_no: idSchema(
      'Weighbridge ticket number printed on the ticket (地磅单号; data, not a key)',
      'DB20261002-0042',
      64,
    ),
    trade_id: idSchema('The trade weighed', 'T-2026-000123'),
    site: siteSchema,
    vehicle_plate: z
      .string()
      .refine(
        isValidPlate,
        'must be a vehicle plate without separators, e.g. "粤J12345" (new-energy: "粤JD12345")',
      )
      .meta({ description: 'Plate of the weighed vehicle', example: '粤J12345' }),
    gross_kg: kgSchema('positive', 'Gross weight in kg, greater than 0', '42120.000'),
    tare_kg: kgSchema('non_negative', 'Tare weight in kg, less than gross', '15020.000'),
    net_kg: kgSchema('non_negative', 'gross_kg − tare_kg, exactly', '27100.000'),
    weighed_at: timestampSchema('When the (gross) weighing took place'),
  })
  .meta({ description: 'A weighbridge ticket (immutable)' });

const invoiceNumberFields = {
  invoice_no: z
    .string()
    .regex(
      new RegExp(INVOICE_NO_PATTERN),
      'must be 20 digits, or a legacy "<10- or 12-digit code>-<8-digit number>"',
    )
    .optional()
    .meta({
      description:
        'Fully digitalised e-invoice number (20 digits), or legacy "<code>-<number>"; or send `code` and `number` instead',
      example: '26442000000012345678',
    }),
  code: z
    .string()
    .regex(new RegExp(LEGACY_INVOICE_CODE_PATTERN), 'must be a 10- or 12-digit legacy invoice code')
    .optional()
    .meta({
      description: 'Legacy invoice code (with `number`, instead of `invoice_no`)',
      example: '4400231130',
    }),
  number: z
    .string()
    .regex(new RegExp(LEGACY_INVOICE_NUMBER_PATTERN), 'must be an 8-digit legacy invoice number')
    .optional()
    .meta({ description: 'Legacy invoice number (with `code`)', example: '01234567' }),
};

export const invoiceLineSchema = z.object({
  material: materialSchema,
  quantity: quantitySchema('positive', 'Quantity in `unit`, greater than 0', '12.345'),
  unit: unitSchema,
  amount_ex_tax: moneySchema('non_negative', 'Amount excluding VAT', '26368.93'),
  tax_rate: rateSchema,
  tax_amount: moneySchema('non_negative', 'amount_ex_tax × tax_rate, half-up to the fen (±0.01)', '791.07'),
});

export const redInvoiceLineSchema = z.object({
  material: materialSchema,
  quantity: quantitySchema(
    'non_positive',
    'Quantity reversed, negative (or "0" for an amount-only correction)',
    '-12.345',
  ),
  unit: unitSchema,
  amount_ex_tax: moneySchema('non_positive', 'Amount excluding VAT, negative', '-26368.93'),
  tax_rate: rateSchema,
  tax_amount: moneySchema('non_positive', 'amount_ex_tax × tax_rate, half-up to the fen (±0.01)', '-791.07'),
});

export const invoiceIssuedDataSchema = z
  .object({
    ...invoiceNumberFields,
    kind: z.enum(INVOICE_KINDS).meta({ description: 'special 专票, ordinary 普票, reverse 反向开票' }),
    issued_at: timestampSchema('When the invoice was issued'),
    seller: partySchema.meta({ description: 'Enterprise; the natural person for kind "reverse"' }),
    buyer: partySchema.meta({ description: 'The buyer; for kind "reverse" the issuing enterprise' }),
    trade_ids: z
      .array(idSchema('A trade this invoice covers', 'T-2026-000123'))
      .meta({ description: 'Trades covered (may be empty: then matched by parties, material and amount)' }),
    lines: z.array(invoiceLineSchema).min(1),
    total_ex_tax: moneySchema('non_negative', 'Σ line amount_ex_tax', '26368.93'),
    total_tax: moneySchema('non_negative', 'Σ line tax_amount', '791.07'),
    total: moneySchema('non_negative', 'total_ex_tax + total_tax', '27160.00'),
  })
  .meta({ description: 'A blue (ordinary) invoice (immutable; corrected by invoice.reversed)' });

export const invoiceReversedDataSchema = z
  .object({
    ...invoiceNumberFields,
    original_invoice_no: z
      .string()
      .regex(
        new RegExp(INVOICE_NO_PATTERN),
        'must be 20 digits, or a legacy "<10- or 12-digit code>-<8-digit number>"',
      )
      .meta({ description: 'The blue invoice this red invoice reverses', example: '26442000000012345678' }),
    issued_at: timestampSchema('When the red invoice was issued'),
    reason: textSchema('Why the invoice was reversed', 500).optional(),
    lines: z
      .array(redInvoiceLineSchema)
      .min(1)
      .optional()
      .meta({ description: 'If given, they sum to the totals' }),
    total_ex_tax: moneySchema('negative', 'Amount excluding VAT reversed, negative', '-26368.93'),
    total_tax: moneySchema(
      'non_positive',
      'VAT reversed, negative (zero when the original was exempt)',
      '-791.07',
    ),
    total: moneySchema('negative', 'total_ex_tax + total_tax, negative', '-27160.00'),
  })
  .meta({ description: 'A red-letter (红字) invoice reversing one blue invoice' });

export const partyRegisteredDataSchema = z
  .object({
    uscc: usccSchema,
    name: nameSchema,
    division: divisionSchema,
    taxpayer_kind: z
      .enum(TAXPAYER_KINDS)
      .meta({ description: '一般纳税人 general or 小规模纳税人 small_scale' }),
    established_on: dateSchema('Date of establishment'),
    recycling_filing_no: idSchema('再生资源回收经营备案号', '440703-2023-0012', 64).optional(),
    roles: z
      .array(z.enum(PARTY_ROLES))
      .meta({ description: 'Roles of the enterprise, no duplicates (may be empty)' }),
  })
  .meta({ description: 'Enterprise master data; the latest by event timestamp wins' });

/** The `data` schema of each event type. */
export const EVENT_DATA_SCHEMAS = {
  'party.registered': partyRegisteredDataSchema,
  'trade.created': tradeCreatedDataSchema,
  'trade.amended': tradeAmendedDataSchema,
  'trade.cancelled': tradeCancelledDataSchema,
  'payment.made': paymentMadeDataSchema,
  'payment.reversed': paymentReversedDataSchema,
  'weighing.recorded': weighingRecordedDataSchema,
  'invoice.issued': invoiceIssuedDataSchema,
  'invoice.reversed': invoiceReversedDataSchema,
} as const;

/** The envelope of every event; `data` is checked against the schema of its `type`. */
export const envelopeSchema = z
  .object({
    type: z.enum(EVENT_TYPES).meta({ description: 'Event type', example: 'trade.created' }),
    timestamp: timestampSchema('When the event happened on the platform'),
    data: z.record(z.string(), z.unknown()).meta({ description: 'The record; its shape depends on `type`' }),
  })
  .meta({ description: 'An event pushed by a trading platform. Unknown fields are ignored.' });

/**
 * The envelope as parseEvent checks it. `data` only has to be an object here (the schema of its
 * `type` checks the rest), so it is not copied key by key as the documented record schema above
 * does for every event; the messages are the same (ARTICLE: a record and an object are both
 * "an object"), and for JSON input (no symbol keys, no prototypes) so are the failures.
 */
const envelopeCheckSchema = z.object({
  type: envelopeSchema.shape.type,
  timestamp: envelopeSchema.shape.timestamp,
  data: z.object({}),
});

function eventVariant<T extends EventType>(type: T) {
  return z.object({
    type: z.literal(type),
    timestamp: timestampSchema('When the event happened on the platform'),
    data: EVENT_DATA_SCHEMAS[type],
  });
}

/** Every event type with its typed `data`, for the OpenAPI document (shape only; rules are in parseEvent). */
export const eventSchema = z
  .discriminatedUnion('type', [
    eventVariant('party.registered'),
    eventVariant('trade.created'),
    eventVariant('trade.amended'),
    eventVariant('trade.cancelled'),
    eventVariant('payment.made'),
    eventVariant('payment.reversed'),
    eventVariant('weighing.recorded'),
    eventVariant('invoice.issued'),
    eventVariant('invoice.reversed'),
  ])
  .meta({ description: 'An event pushed by a trading platform. Unknown fields are ignored.' });

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

export type Party = z.infer<typeof partySchema>;
export type EnterpriseParty = z.infer<typeof enterprisePartySchema>;
export type NaturalPersonParty = z.infer<typeof naturalPersonPartySchema>;
export type Location = z.infer<typeof locationSchema>;
export type Site = z.infer<typeof siteSchema>;
export type TradeLine = z.infer<typeof tradeLineSchema>;
export type UpstreamClaim = z.infer<typeof upstreamClaimSchema>;
/** trade.created (version 1) and trade.amended (version ≥ 2). */
export type TradeData = z.infer<typeof tradeAmendedDataSchema>;
export type TradeCancelledData = z.infer<typeof tradeCancelledDataSchema>;
export type PaymentAccount = z.infer<typeof paymentAccountSchema>;
export type PaymentData = z.infer<typeof paymentMadeDataSchema>;
export type PaymentReversedData = z.infer<typeof paymentReversedDataSchema>;
export type WeighingData = z.infer<typeof weighingRecordedDataSchema>;
export type InvoiceLine = z.infer<typeof invoiceLineSchema>;
export type InvoiceData = z.infer<typeof invoiceIssuedDataSchema>;
export type RedInvoiceLine = z.infer<typeof redInvoiceLineSchema>;
export type InvoiceReversedData = z.infer<typeof invoiceReversedDataSchema>;
export type PartyRegisteredData = z.infer<typeof partyRegisteredDataSchema>;

export interface EventDataMap {
  'party.registered': PartyRegisteredData;
  'trade.created': TradeData;
  'trade.amended': TradeData;
  'trade.cancelled': TradeCancelledData;
  'payment.made': PaymentData;
  'payment.reversed': PaymentReversedData;
  'weighing.recorded': WeighingData;
  'invoice.issued': InvoiceData;
  'invoice.reversed': InvoiceReversedData;
}

export type ParsedEvent = {
  [K in EventType]: { type: K; timestamp: string; data: EventDataMap[K] };
}[EventType];

export type ParseEventResult =
  | { ok: true; event: ParsedEvent; record: RecordIdentity }
  | { ok: false; errors: FieldError[] };

// ---------------------------------------------------------------------------------------------
// Error messages for zod's own issues
// ---------------------------------------------------------------------------------------------

const ARTICLE: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'a boolean',
  object: 'an object',
  record: 'an object',
  array: 'an array',
};

/**
 * Messages for the issues whose schemas set none (schema-level messages take precedence). Returns
 * undefined for anything unforeseen, which falls back to zod's default text.
 */
function errorMap(iss: z.core.$ZodRawIssue): string | undefined {
  if (iss.input === undefined && iss.code !== 'custom') return 'is required';
  switch (iss.code) {
    case 'invalid_type': {
      const want = ARTICLE[iss.expected] ?? iss.expected;
      return iss.input === null ? `must be ${want}, not null` : `must be ${want}`;
    }
    case 'invalid_value':
      return iss.values.length === 1
        ? `must be ${JSON.stringify(iss.values[0])}`
        : `must be one of: ${iss.values.map(String).join(', ')}`;
    case 'invalid_union': {
      const options = (iss as { options?: unknown[] }).options;
      return options ? `must be one of: ${options.map(String).join(', ')}` : 'is not valid';
    }
    case 'too_small':
      if (iss.origin === 'string') {
        return Number(iss.minimum) <= 1 ? 'must not be empty' : `must be at least ${iss.minimum} characters`;
      }
      if (iss.origin === 'array')
        return `must contain at least ${iss.minimum} item${iss.minimum === 1 ? '' : 's'}`;
      return `must be ${iss.inclusive ? 'at least' : 'greater than'} ${iss.minimum}`;
    case 'too_big':
      if (iss.origin === 'string') return `must be at most ${iss.maximum} characters`;
      if (iss.origin === 'array') return `must contain at most ${iss.maximum} items`;
      return `must be ${iss.inclusive ? 'at most' : 'less than'} ${iss.maximum}`;
    case 'invalid_format':
      return 'has an invalid format';
    default:
      return undefined;
  }
}

/** RFC 6901: "~" → "~0", "/" → "~1". */
function pointerOf(prefix: string, path: readonly PropertyKey[]): string {
  return prefix + path.map((p) => '/' + String(p).replaceAll('~', '~0').replaceAll('/', '~1')).join('');
}

function zodErrors(issues: readonly z.core.$ZodIssue[], prefix: string): FieldError[] {
  return issues.map((i) => ({ pointer: pointerOf(prefix, i.path), message: i.message }));
}

// ---------------------------------------------------------------------------------------------
// Rules (pass 2) — on the raw input, each only where its own inputs are well-formed
// ---------------------------------------------------------------------------------------------

type Raw = Record<string, unknown>;
type Path = (string | number)[];
type Add = (path: Path, message: string) => void;

const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const unitOf = (v: unknown): QuantityUnit | undefined => QUANTITY_UNITS.find((u) => u === v);
const moneyOf = (v: unknown): bigint | null => {
  const s = str(v);
  return s === undefined ? null : money(s);
};
const abs = (v: bigint) => (v < 0n ? -v : v);
const objects = (v: unknown): [Raw | undefined, number][] =>
  Array.isArray(v) ? v.map((x, i): [Raw | undefined, number] => [isObject(x) ? x : undefined, i]) : [];

const QUANTITY_RE = new RegExp(QUANTITY_PATTERN);

/**
 * The largest quantity a record may carry, and the largest sum of a record's quantities:
 * 1,000,000,000 t (10^15 g), far beyond any trade, so that every quantity and every sum of one
 * record's quantities stays within PostgreSQL's bigint in grams. The decimal format alone allows
 * 15 integer digits of tonnes (10^21 g): accepted, such a record could never be stored.
 */
export const MAX_QUANTITY_G = 10n ** 15n;
const MAX_QUANTITY_TEXT = 'at most 1000000000 t (1000000000000 kg)';

/** Adds an error when the quantities at `path` add up to more than MAX_QUANTITY_G. */
function quantitySumRule(grams: readonly (bigint | null)[], path: Path, add: Add): void {
  let sum = 0n;
  for (const g of grams) if (g !== null) sum += g < 0n ? -g : g;
  if (sum > MAX_QUANTITY_G) add(path, `quantities must add up to ${MAX_QUANTITY_TEXT}`);
}

/**
 * Grams of a (possibly negative) quantity in `unit`; adds an error when it is finer than a gram
 * or larger than MAX_QUANTITY_G.
 */
function quantityRule(line: Raw, path: Path, add: Add): bigint | null {
  const s = str(line.quantity);
  const unit = unitOf(line.unit);
  if (s === undefined || unit === undefined) return null;
  const negative = s.startsWith('-');
  const magnitude = negative ? s.slice(1) : s;
  if (!QUANTITY_RE.test(magnitude)) return null; // format error already reported
  const grams = parseQuantity(magnitude, unit);
  if (grams === null) {
    add([...path, 'quantity'], 'has more than 3 decimals: kg quantities are limited to gram precision');
    return null;
  }
  if (grams > MAX_QUANTITY_G) {
    add([...path, 'quantity'], `must be ${MAX_QUANTITY_TEXT}`);
    return null;
  }
  return negative ? -grams : grams;
}

function materialRule(line: Raw, path: Path, ctx: ValidationContext, add: Add): void {
  const m = str(line.material);
  if (m !== undefined && m.length > 0 && m.length <= 32 && !ctx.materials.has(m)) {
    add([...path, 'material'], `unknown material code ${JSON.stringify(m)}: not in the catalog`);
  }
}

function partyKindRule(d: Raw, field: 'seller' | 'buyer', want: string, why: string, add: Add): void {
  const party = d[field];
  if (!isObject(party)) return;
  const kind = str(party.kind);
  if (kind !== undefined && (PARTY_KINDS as readonly string[]).includes(kind) && kind !== want) {
    add([field, 'kind'], `must be "${want}": ${why}`);
  }
}

function duplicatesRule(list: unknown, field: string, add: Add): void {
  if (!Array.isArray(list)) return;
  const seen = new Map<unknown, number>();
  list.forEach((v, i) => {
    if (typeof v !== 'string') return;
    const first = seen.get(v);
    if (first === undefined) seen.set(v, i);
    else add([field, i], `duplicates ${field}[${first}] (${JSON.stringify(v)})`);
  });
}

function tradeRules(d: Raw, ctx: ValidationContext, add: Add): void {
  let sum: bigint | null = 0n;
  const lines = objects(d.lines);
  const lineGrams: (bigint | null)[] = [];
  for (const [line, i] of lines) {
    if (!line) {
      sum = null;
      continue;
    }
    materialRule(line, ['lines', i], ctx, add);
    const grams = quantityRule(line, ['lines', i], add);
    lineGrams.push(grams);
    const unit = unitOf(line.unit);
    const priceStr = str(line.unit_price);
    const price = priceStr === undefined ? null : parseUnitPrice(priceStr);
    const raw = moneyOf(line.amount);
    const amount = raw !== null && raw >= 0n ? raw : null; // a negative amount was reported by pass 1
    sum = amount === null || sum === null ? null : sum + amount;
    if (grams !== null && unit !== undefined && price !== null && amount !== null) {
      const expected = lineAmountFen(grams, unit, price);
      if (abs(amount - expected) > 1n) {
        add(
          ['lines', i, 'amount'],
          `must equal quantity × unit_price rounded half-up to the fen: expected ${formatMoney(expected)} (tolerance ±0.01)`,
        );
      }
    }
  }
  const total = moneyOf(d.total_amount);
  if (lines.length > 0 && sum !== null && total !== null && total >= 0n && total !== sum) {
    add(['total_amount'], `must equal the sum of the line amounts: expected ${formatMoney(sum)}`);
  }
  quantitySumRule(lineGrams, ['lines'], add);
  partyKindRule(d, 'buyer', 'enterprise', 'the buyer of a trade must be an enterprise', add);
  const claimed = objects(d.upstream).map(([claim, i]) =>
    claim ? quantityRule(claim, ['upstream', i], add) : null,
  );
  quantitySumRule(claimed, ['upstream'], add);
}

/** invoice_no, or legacy code + number: exactly one form, consistent if both are sent. */
function invoiceNumberRule(d: Raw, add: Add): void {
  const { invoice_no: no, code, number } = d;
  if (no === undefined) {
    if (code === undefined && number === undefined) {
      add(
        ['invoice_no'],
        'is required: a 20-digit number or legacy "<code>-<number>" (or the fields code and number)',
      );
    } else if (code === undefined) add(['code'], 'is required together with number');
    else if (number === undefined) add(['number'], 'is required together with code');
    return;
  }
  if (code === undefined && number === undefined) return;
  if (code === undefined || number === undefined) {
    add(
      [code === undefined ? 'code' : 'number'],
      `is required together with ${code === undefined ? 'number' : 'code'}`,
    );
    return;
  }
  if (typeof no !== 'string' || typeof code !== 'string' || typeof number !== 'string') return;
  const fromNo = canonicalInvoiceNo(no);
  const fromFields = canonicalInvoiceNo({ code, number });
  if (fromNo !== null && fromFields !== null && fromNo !== fromFields) {
    add(['invoice_no'], `disagrees with code and number (${fromFields})`);
  }
}

/** Lines (blue or red) against their own tax, then against the totals; and total = ex + tax. */
function invoiceAmountRules(d: Raw, ctx: ValidationContext, red: boolean, add: Add): void {
  // Amounts of the wrong sign were reported by pass 1; leave them out of the arithmetic.
  const signed = (v: unknown): bigint | null => {
    const m = moneyOf(v);
    return m === null || (red ? m > 0n : m < 0n) ? null : m;
  };
  let ex: bigint | null = 0n;
  let tax: bigint | null = 0n;
  const lines = objects(d.lines);
  const lineGrams: (bigint | null)[] = [];
  for (const [line, i] of lines) {
    if (!line) {
      ex = tax = null;
      continue;
    }
    materialRule(line, ['lines', i], ctx, add);
    lineGrams.push(quantityRule(line, ['lines', i], add));
    const lineEx = signed(line.amount_ex_tax);
    const lineTax = signed(line.tax_amount);
    const rateStr = str(line.tax_rate);
    const rate = rateStr === undefined ? null : parseRate(rateStr);
    ex = lineEx === null || ex === null ? null : ex + lineEx;
    tax = lineTax === null || tax === null ? null : tax + lineTax;
    if (lineEx !== null && lineTax !== null && rate !== null) {
      const expected = taxOf(lineEx, rate);
      if (abs(lineTax - expected) > 1n) {
        add(
          ['lines', i, 'tax_amount'],
          `must equal amount_ex_tax × tax_rate rounded half-up to the fen: expected ${formatMoney(expected)} (tolerance ±0.01)`,
        );
      }
    }
  }
  quantitySumRule(lineGrams, ['lines'], add);
  const totalEx = signed(d.total_ex_tax);
  const totalTax = signed(d.total_tax);
  const total = signed(d.total);
  if (lines.length > 0) {
    if (ex !== null && totalEx !== null && ex !== totalEx) {
      add(['total_ex_tax'], `must equal the sum of the lines' amount_ex_tax: expected ${formatMoney(ex)}`);
    }
    if (tax !== null && totalTax !== null && tax !== totalTax) {
      add(['total_tax'], `must equal the sum of the lines' tax_amount: expected ${formatMoney(tax)}`);
    }
  }
  if (totalEx !== null && totalTax !== null && total !== null && total !== totalEx + totalTax) {
    add(['total'], `must equal total_ex_tax + total_tax: expected ${formatMoney(totalEx + totalTax)}`);
  }
}

function invoiceIssuedRules(d: Raw, ctx: ValidationContext, add: Add): void {
  invoiceNumberRule(d, add);
  invoiceAmountRules(d, ctx, false, add);
  if (d.kind === 'reverse') {
    partyKindRule(
      d,
      'seller',
      'natural_person',
      'on a reverse invoice the seller is the natural person',
      add,
    );
    partyKindRule(d, 'buyer', 'enterprise', 'a reverse invoice is issued by the buying enterprise', add);
  } else if (d.kind === 'special' || d.kind === 'ordinary') {
    partyKindRule(d, 'seller', 'enterprise', 'only a reverse invoice has a natural-person seller', add);
    if (d.kind === 'special') {
      partyKindRule(d, 'buyer', 'enterprise', 'a special VAT invoice (专票) is issued to an enterprise', add);
    }
  }
}

function invoiceReversedRules(d: Raw, ctx: ValidationContext, add: Add): void {
  invoiceNumberRule(d, add);
  invoiceAmountRules(d, ctx, true, add);
  const red = invoiceKeyOf(d);
  const original =
    typeof d.original_invoice_no === 'string' ? canonicalInvoiceNo(d.original_invoice_no) : null;
  if (red !== null && red === original) {
    add(['original_invoice_no'], 'must differ from the red invoice’s own number');
  }
}

function weighingRules(d: Raw, add: Add): void {
  const kg = (v: unknown) => {
    const s = str(v);
    return s === undefined ? null : parseKg(s);
  };
  const gross = kg(d.gross_kg);
  const tare = kg(d.tare_kg);
  const net = kg(d.net_kg);
  if (gross !== null && gross > MAX_QUANTITY_G) {
    add(['gross_kg'], `must be ${MAX_QUANTITY_TEXT}`);
    return;
  }
  if (gross === null || tare === null || gross === 0n) return;
  if (tare >= gross) {
    add(['tare_kg'], 'must be less than gross_kg');
    return;
  }
  if (net !== null && net !== gross - tare) {
    add(['net_kg'], `must equal gross_kg − tare_kg exactly: expected ${formatKg(gross - tare)}`);
  }
}

const RULES: { [K in EventType]?: (d: Raw, ctx: ValidationContext, add: Add) => void } = {
  'party.registered': (d, _ctx, add) => duplicatesRule(d.roles, 'roles', add),
  'trade.created': tradeRules,
  'trade.amended': tradeRules,
  'payment.made': (d, _ctx, add) => duplicatesRule(d.trade_ids, 'trade_ids', add),
  'weighing.recorded': (d, _ctx, add) => weighingRules(d, add),
  'invoice.issued': invoiceIssuedRules,
  'invoice.reversed': invoiceReversedRules,
};

// ---------------------------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------------------------

/** Canonical invoice key of invoice data (`invoice_no`, or legacy `code` + `number`), or null. */
export function invoiceKeyOf(d: { invoice_no?: unknown; code?: unknown; number?: unknown }): string | null {
  if (typeof d.invoice_no === 'string') return canonicalInvoiceNo(d.invoice_no);
  if (typeof d.code === 'string' && typeof d.number === 'string') {
    return canonicalInvoiceNo({ code: d.code, number: d.number });
  }
  return null;
}

/** The record an event writes (CONTRACT.md 1.3). */
export function recordIdentityOf(event: ParsedEvent): RecordIdentity {
  switch (event.type) {
    case 'party.registered':
      return { kind: 'party', key: event.data.uscc, version: null };
    case 'trade.created':
    case 'trade.amended':
    case 'trade.cancelled':
      return { kind: 'trade', key: event.data.trade_id, version: event.data.version };
    case 'payment.made':
      return { kind: 'payment', key: event.data.payment_id, version: 1 };
    case 'payment.reversed':
      return { kind: 'payment_reversal', key: event.data.payment_id, version: 1 };
    case 'weighing.recorded':
      return { kind: 'weighing', key: event.data.weighing_id, version: 1 };
    case 'invoice.issued':
    case 'invoice.reversed': {
      const key = invoiceKeyOf(event.data);
      // Unreachable after validation (invoiceNumberRule); a bug if it ever fires.
      if (key === null) throw new Error('invoice event without a valid invoice number');
      return { kind: 'invoice', key, version: 1 };
    }
  }
}

/**
 * safeParse with our messages ({@link errorMap}). zod 4 parses several times slower when given
 * any per-call parameters (about 3 µs more per call here, twice per event), and an error map
 * changes messages only, never whether or what a value parses to: so a value is parsed plainly
 * first, and only a failing one again with the map, for its messages.
 */
function safeParseWithMessages<S extends z.ZodType>(
  schema: S,
  value: unknown,
): z.ZodSafeParseResult<z.output<S>> {
  const plain = schema.safeParse(value);
  return plain.success ? plain : schema.safeParse(value, { error: errorMap });
}

const MAX_TEXT_ERRORS = 20;
const BACKSLASH_U = Buffer.from('\\u');

/**
 * Finds text that no store can keep: U+0000 (PostgreSQL's text and jsonb refuse it) and lone
 * UTF-16 surrogates (which have no UTF-8 form). Valid JSON can carry both as `\u` escapes, so
 * they pass JSON.parse; they must be a 400 here, not a failed INSERT later. Keys are checked
 * too: unknown keys are ignored by the schemas but still stored with the record.
 */
function unstorableText(value: unknown, pointer: string, errors: FieldError[]): void {
  if (errors.length >= MAX_TEXT_ERRORS) return;
  if (typeof value === 'string') {
    if (value.includes('\u0000')) errors.push({ pointer, message: 'must not contain the character U+0000' });
    else if (!value.isWellFormed())
      errors.push({ pointer, message: 'must not contain a lone UTF-16 surrogate (\\uD800–\\uDFFF)' });
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      unstorableText(v, `${pointer}/${i}`, errors);
    });
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [k, v] of Object.entries(value)) {
    const at = pointerOf(pointer, [k]);
    if (k.includes('\u0000') || !k.isWellFormed()) {
      errors.push({ pointer: at, message: 'the member name must not contain U+0000 or a lone surrogate' });
      if (errors.length >= MAX_TEXT_ERRORS) return;
    }
    unstorableText(v, at, errors);
  }
}

/**
 * Validates one event body. `pointerPrefix` is prepended to every pointer (the bulk endpoint
 * validates each NDJSON line object on its own and passes '').
 */
export function parseEvent(
  body: unknown,
  ctx: ValidationContext,
  pointerPrefix = '',
  /** The JSON text `body` was parsed from, when at hand: without a `\u` escape it holds no unstorable text. */
  raw?: Buffer,
): ParseEventResult {
  if (!isObject(body))
    return { ok: false, errors: [{ pointer: pointerPrefix, message: 'must be a JSON object' }] };
  const errors: FieldError[] = [];
  // U+0000 and lone surrogates can only come from `\u` escapes in valid JSON (raw control
  // characters are a syntax error; the bytes are valid UTF-8), so most bodies skip the walk.
  if (raw === undefined || raw.includes(BACKSLASH_U)) {
    unstorableText(body, pointerPrefix, errors);
    if (errors.length > 0) return { ok: false, errors };
  }
  const envelope = safeParseWithMessages(envelopeCheckSchema, body);
  if (!envelope.success) errors.push(...zodErrors(envelope.error.issues, pointerPrefix));

  const type = (EVENT_TYPES as readonly unknown[]).includes(body.type) ? (body.type as EventType) : undefined;
  const data = body.data;
  let parsedData: unknown;
  if (type !== undefined && isObject(data)) {
    const dataPrefix = pointerPrefix + '/data';
    const result = safeParseWithMessages(EVENT_DATA_SCHEMAS[type], data);
    if (result.success) parsedData = result.data;
    else errors.push(...zodErrors(result.error.issues, dataPrefix));
    RULES[type]?.(data, ctx, (path, message) =>
      errors.push({ pointer: pointerOf(dataPrefix, path), message }),
    );
  }

  if (errors.length > 0 || !envelope.success || type === undefined) {
    return { ok: false, errors };
  }
  const event = { type, timestamp: envelope.data.timestamp, data: parsedData } as ParsedEvent;
  return { ok: true, event, record: recordIdentityOf(event) };
}
