import { createRoute, z } from '@hono/zod-openapi';
import { formatKg, formatMoney, formatQuantity, type QuantityUnit } from '../../../domain/money';
import { auditText } from '../../../repositories/audit.repository';
import { parseTradeKey } from '../../../repositories/chains.repository';
import {
  findTradeDetail,
  listTradeAmbiguities,
  listTradeAnomalies,
  listTradeInvoices,
  listTradePayments,
  listTradeSaleResults,
  listTradeVersions,
  listTradeWeighings,
} from '../../../repositories/trades-query.repository';
import { PiiVault } from '../../../security/pii';
import type { App } from '../../app';
import { addAuditSubjects, canSee, officerScope, piiPresenter, ROLES_FOR, requireRole } from '../../auth';
import { ProblemError } from '../../problems';
import {
  FLOW_STATUSES,
  kgString,
  moneyString,
  notFoundError,
  OVERALL_STATUSES,
  type QueryRouteDeps,
  readErrors,
  shanghaiTime,
  timeString,
} from '../query-wire';
import { toTradeSummary, tradeSummaryExample, tradeSummarySchema } from './listTrades';

export const tradeIdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(200, 'must be at most 200 characters')
    .openapi({
      param: { name: 'id', in: 'path' },
      description: 'The internal id (`42`) or `{platform}:{trade_id}` (`jmrr:T-1001`)',
      example: 'jmrr:T-1001',
    }),
});

const accountSchema = z.object({
  account_name: z.string().openapi({ example: '张三' }),
  account_no: z.string().openapi({
    description:
      'Masked (`6222 **** **** 0101`) unless the token has `pii` access (then in clear, and audited)',
    example: '6222 **** **** 6543',
  }),
  party_key: z
    .string()
    .nullable()
    .openapi({ description: 'The account holder, when the platform named one' }),
});

const paymentSchema = z
  .object({
    payment_id: z.string().openapi({ example: 'P-2001' }),
    basis: z.enum(['declared', 'matched']).openapi({
      description: '`declared`: the payment names the trade; `matched`: linked by tolerant matching',
    }),
    paid_at: timeString('When it was paid', '2026-10-02T09:00:00+08:00'),
    amount: moneyString('The whole payment (it may cover several trades)'),
    channel: z.string().openapi({ example: 'bank_transfer' }),
    serial_no: z
      .string()
      .nullable()
      .openapi({ description: 'Bank or channel serial number', example: 'B2026100200017' }),
    trade_ids: z.array(z.string()).openapi({ description: 'Trades the payment declares (may be empty)' }),
    payer: accountSchema,
    payee: accountSchema,
    reversal: z
      .object({ reversed_at: timeString('When it was reversed'), reason: z.string() })
      .nullable()
      .openapi({ description: 'Set when the payment was reversed (it then counts for nothing)' }),
  })
  .openapi('TradePayment');

const weighingSchema = z
  .object({
    weighing_id: z.string().openapi({ example: 'W-3001' }),
    ticket_no: z
      .string()
      .openapi({ description: 'Weighbridge ticket number (地磅单号)', example: 'TK-20261002-017' }),
    site: z.object({ code: z.string(), division: z.string() }),
    vehicle_plate: z.string().openapi({ example: '粤J12345' }),
    gross_kg: kgString('Gross weight', '20345.000'),
    tare_kg: kgString('Tare weight', '8000.000'),
    net_kg: kgString('Net weight'),
    weighed_at: timeString('When it was weighed', '2026-10-02T08:00:00+08:00'),
  })
  .openapi('TradeWeighing');

const invoiceTotals = {
  issued_at: timeString('Issue time', '2026-10-05T10:00:00+08:00'),
  total_ex_tax: moneyString('Total excluding VAT', '26890.10'),
  total_tax: moneyString('VAT', '268.90'),
  total: moneyString('Total including VAT'),
};

const invoiceSchema = z
  .object({
    invoice_no: z.string().openapi({ example: '26442000000012345678' }),
    kind: z.enum(['special', 'ordinary', 'reverse']),
    basis: z.enum(['declared', 'matched']),
    seller_key: z.string().nullable(),
    buyer_key: z.string().nullable(),
    ...invoiceTotals,
    lines: z.array(
      z.object({
        material: z.string(),
        quantity_kg: kgString('Quantity'),
        amount_ex_tax: moneyString('Amount excluding VAT'),
        tax_rate: z.string().openapi({ example: '0.01' }),
        tax: moneyString('VAT of the line'),
      }),
    ),
    reversals: z
      .array(z.object({ invoice_no: z.string(), ...invoiceTotals }))
      .openapi({ description: 'Red-letter (红字) invoices reversing this one; their totals are negative' }),
  })
  .openapi('TradeInvoice');

const differencesSchema = z
  .object({
    amount: z
      .object({ trade: z.string(), paid: z.string(), difference: z.string(), tolerance: z.string() })
      .optional()
      .openapi({ description: 'Funds beyond tolerance: paid − trade total' }),
    weight: z
      .object({
        trade_kg: z.string(),
        weighed_kg: z.string(),
        difference_kg: z.string(),
        tolerance_kg: z.string(),
      })
      .optional()
      .openapi({ description: 'Goods beyond tolerance: Σ net weight − traded quantity' }),
    invoice_amount: z
      .object({ trade: z.string(), invoiced: z.string(), difference: z.string(), tolerance: z.string() })
      .optional(),
    invoice_quantity: z
      .object({
        trade_kg: z.string(),
        invoiced_kg: z.string(),
        difference_kg: z.string(),
        tolerance_kg: z.string(),
      })
      .optional(),
    material: z
      .object({ trade: z.array(z.string()), invoiced: z.array(z.string()) })
      .optional()
      .openapi({ description: 'Invoiced materials that the trade does not have (变票)' }),
    party: z
      .array(
        z.object({
          flow: z.enum(['payment', 'invoice']),
          document: z.string(),
          expected: z.string(),
          actual: z.string(),
        }),
      )
      .optional()
      .openapi({
        description:
          'Documents naming another party than the trade’s: a payee other than the seller, a payer party other than the buyer, an invoice seller or buyer other than the trade’s',
      }),
    invoice_reversal: z
      .array(z.object({ document: z.string(), reversed_beyond: z.string() }))
      .optional()
      .openapi({
        description:
          'Blue invoices whose red-letter reversals go beyond their amount (cumulative red never exceeds the blue)',
      }),
    time: z
      .array(
        z.object({
          flow: z.enum(['payment']),
          document: z.string(),
          paid_at: z.string(),
          earliest: z.string(),
          latest: z.string(),
        }),
      )
      .optional()
      .openapi({
        description:
          'Payments made outside the trade’s payment window (from 1 day before to 30 days after the trade)',
      }),
  })
  .openapi('FlowDifferences');

const flowsSchema = z
  .object({
    overall: z
      .enum(OVERALL_STATUSES)
      .nullable()
      .openapi({ description: 'null until the flows are first computed' }),
    invoice_expected: z.boolean().nullable().openapi({
      description: 'Whether an invoice is expected (enterprise seller, or a reverse-invoiced sale)',
    }),
    updated_at: timeString('When the statuses were last computed').nullable(),
    funds: z.object({
      status: z.enum(FLOW_STATUSES).nullable(),
      paid: moneyString('Payments attributed to this trade, net of reversals').nullable(),
      payments: z.array(paymentSchema),
    }),
    goods: z.object({
      status: z.enum(FLOW_STATUSES).nullable(),
      weighed_kg: kgString('Σ net weight of the tickets').nullable(),
      weighings: z.array(weighingSchema),
    }),
    invoice: z.object({
      status: z.enum(FLOW_STATUSES).nullable(),
      invoiced: moneyString(
        'Invoiced amount attributed to this trade, net of red-letter reversals',
      ).nullable(),
      invoices: z.array(invoiceSchema),
    }),
    differences: differencesSchema,
  })
  .openapi('TradeFlows');

const anomalyRefSchema = z
  .object({
    id: z.string().openapi({ example: '9001' }),
    rule: z.string().openapi({ example: 'THIRD_PARTY_PAYEE' }),
    severity: z.enum(['low', 'medium', 'high', 'critical']),
    status: z.enum(['open', 'confirmed', 'dismissed', 'closed']),
    period: z.string().openapi({ example: '2026-10' }),
    party_key: z.string(),
    summary_zh: z.string(),
    summary_en: z.string(),
    first_detected_at: timeString('First detection'),
    last_detected_at: timeString('Latest detection'),
  })
  .openapi('TradeAnomaly');

const allocationSchema = z
  .object({
    by_material: z.array(
      z.object({
        material: z.string().openapi({ example: 'FE_HEAVY' }),
        quantity_kg: kgString('Quantity of the material sold'),
        unsourced_kg: kgString(
          'The part no earlier purchase of the seller covered (for a generator, its own scrap)',
        ),
        claim_discrepancies: z
          .array(
            z.object({
              upstream: z.object({ platform: z.string(), trade_id: z.string() }),
              claimed_kg: kgString('What the sale’s `upstream` claimed from that purchase'),
              granted_kg: kgString('What the allocation could reserve'),
              reason: z.enum(['not_a_purchase', 'later_purchase', 'exceeds_remaining']).openapi({
                description:
                  'not_a_purchase: not an earlier purchase of this material by the seller; later_purchase: made after ' +
                  'the sale; exceeds_remaining: more than was left of it',
              }),
            }),
          )
          .openapi({ description: 'Declared provenance that was capped (DOMAIN.md 6)' }),
      }),
    ),
  })
  .nullable()
  .openapi('TradeAllocation', {
    description:
      'How the sale was covered by the seller’s earlier purchases; null for a natural person’s sale (an origin in ' +
      'itself) or before the allocation has run',
  });

const ambiguitySchema = z
  .object({
    kind: z.enum(['payment', 'invoice']),
    number: z.string().openapi({ description: 'payment_id or invoice_no' }),
    candidate_trade_ids: z.array(z.string()),
  })
  .openapi('TradeAmbiguousDocument', {
    description:
      'An undeclared document that matches this trade and others equally well: recorded, not linked (never guessed)',
  });

const versionSchema = z
  .object({
    version: z.number().int(),
    kind: z.enum(['created', 'amended', 'cancelled']),
    event_id: z.string().openapi({ description: 'The delivery (`webhook-id`) that carried it' }),
    event_timestamp: timeString('The event’s own `timestamp`'),
    received_at: timeString('When Retrace accepted it'),
    data: z.record(z.string(), z.unknown()).openapi({
      description:
        'The record as received, with each party replaced by `{ kind, key, name }` (no id numbers); for a ' +
        'cancellation `{ trade_id, version, reason }`',
    }),
  })
  .openapi('TradeVersion');

export const tradeDetailSchema = tradeSummarySchema
  .omit({ flow: true, site: true })
  .extend({
    site: z.object({
      code: z.string(),
      division: z.string(),
      location: z.object({ lat: z.number(), lon: z.number() }).nullable(),
    }),
    lines: z.array(
      z.object({
        material: z.string().openapi({ example: 'FE_HEAVY' }),
        quantity: z.string().openapi({ description: 'In `unit`, as sent', example: '12.345' }),
        unit: z.enum(['t', 'kg']),
        quantity_kg: kgString('Quantity in kg'),
        unit_price: z.string().openapi({ description: 'CNY per `unit`', example: '2200.00' }),
        amount: moneyString('Line amount'),
      }),
    ),
    upstream: z
      .array(
        z.object({ platform: z.string(), trade_id: z.string(), quantity_kg: kgString('Claimed quantity') }),
      )
      .openapi({ description: 'Declared provenance (`upstream` of the record)' }),
    updated_at: timeString('When the current state was last written'),
    versions: z.array(versionSchema).openapi({ description: 'Every received version, oldest first' }),
    flows: flowsSchema,
    allocation: allocationSchema,
    ambiguous_documents: z.array(ambiguitySchema),
    anomalies: z.array(anomalyRefSchema).openapi({
      description:
        'Findings that cite this trade and whose subject party is in your divisions: open, confirmed or dismissed (not ' +
        'closed ones, which the facts no longer support)',
    }),
  })
  .openapi('TradeDetail');

type TradeDetail = z.infer<typeof tradeDetailSchema>;
type Differences = z.infer<typeof differencesSchema>;

const { flow: _flow, ...summaryExample } = tradeSummaryExample;

export const getTradeRoute = createRoute({
  operationId: 'getTrade',
  method: 'get',
  path: '/v1/trades/{id}',
  tags: ['trades'],
  summary: 'One trade: current version, history, four flows with documents, findings',
  description:
    'The trade’s current state and every received version; its four flows (funds, goods, invoice) with their ' +
    'statuses, the differences found and the linked payments, weighbridge tickets and invoices (with their ' +
    'numbers); and the findings that cite it. Account numbers are masked unless the token has `pii` access; ' +
    'unmasking is audited. A trade none of whose parties is in your divisions answers 404, like an unknown one.',
  security: [{ bearer: [] }],
  middleware: [requireRole(...ROLES_FOR.readRecords)] as const,
  request: { params: tradeIdParam },
  responses: {
    200: {
      description: 'The trade',
      content: {
        'application/json': {
          schema: tradeDetailSchema,
          example: {
            ...summaryExample,
            site: { code: 'JM-PJ-007', division: '440703', location: { lat: 22.579, lon: 113.081 } },
            lines: [
              {
                material: 'FE_HEAVY',
                quantity: '12.345',
                unit: 't',
                quantity_kg: '12345.000',
                unit_price: '2200.00',
                amount: '27159.00',
              },
            ],
            upstream: [],
            updated_at: '2026-10-02T08:15:03.120+08:00',
            versions: [
              {
                version: 1,
                kind: 'created',
                event_id: 'msg_2Xb9',
                event_timestamp: '2026-10-02T08:15:00+08:00',
                received_at: '2026-10-02T08:15:02.871+08:00',
                data: { trade_id: 'T-1001', version: 1, total_amount: '27159.00' },
              },
            ],
            flows: {
              overall: 'pending',
              invoice_expected: true,
              updated_at: '2026-10-02T09:00:04+08:00',
              funds: {
                status: 'matched',
                paid: '27159.00',
                payments: [
                  {
                    payment_id: 'P-2001',
                    basis: 'declared',
                    paid_at: '2026-10-02T09:00:00+08:00',
                    amount: '27159.00',
                    channel: 'bank_transfer',
                    serial_no: null,
                    trade_ids: ['T-1001'],
                    payer: {
                      account_name: '蓬江绿源再生资源回收站',
                      account_no: '6222 **** **** 4010',
                      party_key: '91440703MA4UJ2KX0K',
                    },
                    payee: { account_name: '张三', account_no: '6222 **** **** 6543', party_key: null },
                    reversal: null,
                  },
                ],
              },
              goods: {
                status: 'matched',
                weighed_kg: '12345.000',
                weighings: [
                  {
                    weighing_id: 'W-3001',
                    ticket_no: 'TK-20261002-017',
                    site: { code: 'JM-PJ-007', division: '440703' },
                    vehicle_plate: '粤J12345',
                    gross_kg: '20345.000',
                    tare_kg: '8000.000',
                    net_kg: '12345.000',
                    weighed_at: '2026-10-02T08:00:00+08:00',
                  },
                ],
              },
              invoice: { status: 'missing', invoiced: '0.00', invoices: [] },
              differences: {},
            },
            allocation: null,
            ambiguous_documents: [],
            anomalies: [],
          },
        },
      },
    },
    ...readErrors(),
    ...notFoundError('No such trade in your divisions'),
  },
});

const shanghaiOrNull = (d: Date | null | undefined) => (d ? shanghaiTime(d) : null);

function notFound(id: string): ProblemError {
  return new ProblemError('not_found', `No trade ${JSON.stringify(auditText(id))} in your divisions.`);
}

export function registerGetTrade(app: App, deps: QueryRouteDeps): void {
  const vault = new PiiVault(deps.keyring);
  app.openapi(getTradeRoute, async (c) => {
    const { id } = c.req.valid('param');
    const key = parseTradeKey(id);
    const t = key ? await findTradeDetail(deps.db, key) : null;
    const scope = officerScope(c.get('officer')!);
    // Unknown and out of scope answer alike: no existence oracle.
    if (!t || !(canSee(scope, t.seller_division) || canSee(scope, t.buyer_division))) throw notFound(id);
    const ref = { platform: t.platform, trade_id: t.trade_id };

    const [versions, payments, weighings, invoices, citing, saleResults, ambiguities] = await Promise.all([
      listTradeVersions(deps.db, ref),
      listTradePayments(deps.db, ref),
      listTradeWeighings(deps.db, ref),
      listTradeInvoices(deps.db, ref),
      listTradeAnomalies(deps.db, ref),
      t.seller_kind === 'natural_person' ? Promise.resolve([]) : listTradeSaleResults(deps.db, ref),
      listTradeAmbiguities(deps.db, ref),
    ]);
    // Findings are scoped by their subject party (as GET /v1/anomalies): one about a party of
    // another district is not shown here either, though it cites this trade.
    const anomalies = citing.filter((a) => canSee(scope, a.division));
    const pii = piiPresenter(c, vault);

    const parties = new Set<string>([t.seller_key, t.buyer_key]);
    for (const v of versions) {
      const d = v.data as { seller?: { key?: unknown }; buyer?: { key?: unknown } };
      if (typeof d.seller?.key === 'string') parties.add(d.seller.key);
      if (typeof d.buyer?.key === 'string') parties.add(d.buyer.key);
    }
    for (const p of payments) {
      if (p.payer_key) parties.add(p.payer_key);
      if (p.payee_key) parties.add(p.payee_key);
    }
    for (const i of invoices.blue) {
      if (i.seller_key) parties.add(i.seller_key);
      if (i.buyer_key) parties.add(i.buyer_key);
    }
    for (const a of anomalies) parties.add(a.party_key);

    const stored = (t.differences ?? {}) as Differences & { invoice_expected?: boolean };
    const { invoice_expected: invoiceExpected, ...differences } = stored;
    const { flow: _omit, site, ...summary } = toTradeSummary(t);
    const lines = t.lines as {
      material: string;
      quantity_g: string;
      unit: QuantityUnit;
      unit_price: string;
      amount_fen: string;
    }[];
    const upstream = t.upstream as { platform: string; trade_id: string; quantity_g: string }[];
    const invoiceLines = (raw: unknown) =>
      (
        raw as {
          material: string;
          quantity_g: string;
          amount_ex_tax_fen: string;
          tax_rate: string;
          tax_fen: string;
        }[]
      ).map((l) => ({
        material: l.material,
        quantity_kg: formatKg(BigInt(l.quantity_g)),
        amount_ex_tax: formatMoney(BigInt(l.amount_ex_tax_fen)),
        tax_rate: l.tax_rate,
        tax: formatMoney(BigInt(l.tax_fen)),
      }));

    const body: TradeDetail = {
      ...summary,
      site: {
        ...site,
        location:
          t.site_lat !== null && t.site_lon !== null
            ? { lat: Number(t.site_lat), lon: Number(t.site_lon) }
            : null,
      },
      lines: lines.map((l) => ({
        material: l.material,
        quantity: formatQuantity(BigInt(l.quantity_g), l.unit),
        unit: l.unit,
        quantity_kg: formatKg(BigInt(l.quantity_g)),
        unit_price: l.unit_price,
        amount: formatMoney(BigInt(l.amount_fen)),
      })),
      upstream: upstream.map((u) => ({
        platform: u.platform,
        trade_id: u.trade_id,
        quantity_kg: formatKg(BigInt(u.quantity_g)),
      })),
      updated_at: shanghaiTime(t.updated_at),
      versions: versions.map((v) => ({
        version: v.version,
        kind: v.kind as 'created' | 'amended' | 'cancelled',
        event_id: v.event_id,
        event_timestamp: shanghaiTime(v.event_ts),
        received_at: shanghaiTime(v.received_at),
        data: v.data as Record<string, unknown>,
      })),
      flows: {
        overall: (t.overall as TradeDetail['flows']['overall']) ?? null,
        invoice_expected: t.overall === null ? null : (invoiceExpected ?? null),
        updated_at: shanghaiOrNull(t.flows_updated_at),
        funds: {
          status: (t.payment_status as TradeDetail['flows']['funds']['status']) ?? null,
          paid: t.paid_fen === null ? null : formatMoney(t.paid_fen),
          payments: payments.map((p) => ({
            payment_id: p.payment_id,
            basis: p.basis === 'declared' ? 'declared' : 'matched',
            paid_at: shanghaiTime(p.paid_at),
            amount: formatMoney(p.amount_fen),
            channel: p.channel,
            serial_no: p.serial_no,
            trade_ids: p.declared_trade_ids,
            payer: {
              account_name: p.payer_name,
              account_no: pii.sealedAccountNo(p.payer_account_enc) ?? '',
              party_key: p.payer_key,
            },
            payee: {
              account_name: p.payee_name,
              account_no: pii.sealedAccountNo(p.payee_account_enc) ?? '',
              party_key: p.payee_key,
            },
            reversal:
              p.reversed_at === null
                ? null
                : { reversed_at: shanghaiTime(p.reversed_at), reason: p.reversal_reason ?? '' },
          })),
        },
        goods: {
          status: (t.weighing_status as TradeDetail['flows']['goods']['status']) ?? null,
          weighed_kg: t.weighed_g === null ? null : formatKg(t.weighed_g),
          weighings: weighings.map((w) => ({
            weighing_id: w.weighing_id,
            ticket_no: w.ticket_no,
            site: { code: w.site_code, division: w.site_division },
            vehicle_plate: w.vehicle_plate,
            gross_kg: formatKg(w.gross_g),
            tare_kg: formatKg(w.tare_g),
            net_kg: formatKg(w.net_g),
            weighed_at: shanghaiTime(w.weighed_at),
          })),
        },
        invoice: {
          status: (t.invoice_status as TradeDetail['flows']['invoice']['status']) ?? null,
          invoiced: t.invoiced_fen === null ? null : formatMoney(t.invoiced_fen),
          invoices: invoices.blue.map((i) => ({
            invoice_no: i.invoice_no,
            kind: i.kind as 'special' | 'ordinary' | 'reverse',
            basis: i.basis === 'declared' ? 'declared' : 'matched',
            seller_key: i.seller_key,
            buyer_key: i.buyer_key,
            issued_at: shanghaiTime(i.issued_at),
            total_ex_tax: formatMoney(i.total_ex_tax_fen),
            total_tax: formatMoney(i.total_tax_fen),
            total: formatMoney(i.total_fen),
            lines: invoiceLines(i.lines),
            reversals: invoices.red
              .filter((r) => r.original_invoice_no === i.invoice_no)
              .map((r) => ({
                invoice_no: r.invoice_no,
                issued_at: shanghaiTime(r.issued_at),
                total_ex_tax: formatMoney(r.total_ex_tax_fen),
                total_tax: formatMoney(r.total_tax_fen),
                total: formatMoney(r.total_fen),
              })),
          })),
        },
        differences,
      },
      allocation: allocationOf(saleResults),
      ambiguous_documents: ambiguities.map((a) => ({
        kind: a.document_kind as 'payment' | 'invoice',
        number: a.document_no,
        candidate_trade_ids: a.candidate_trade_ids,
      })),
      anomalies: anomalies.map((a) => ({
        id: a.id.toString(),
        rule: a.rule,
        severity: a.severity as TradeDetail['anomalies'][number]['severity'],
        status: a.status as TradeDetail['anomalies'][number]['status'],
        period: a.period,
        party_key: a.party_key,
        summary_zh: a.summary_zh,
        summary_en: a.summary_en,
        first_detected_at: shanghaiTime(a.first_detected_at),
        last_detected_at: shanghaiTime(a.last_detected_at),
      })),
    };
    addAuditSubjects(c, { parties, trades: [t.id] });
    return c.json(body, 200);
  });
}

/**
 * The sale's allocation per material. A multi-material sale's claims are offered to each of its
 * material streams, so a claim on a purchase of another material shows as `not_a_purchase` in the
 * streams it does not belong to: such an entry is left out when the claim was granted (a declared
 * allocation) or judged otherwise in another material's stream.
 */
function allocationOf(rows: Awaited<ReturnType<typeof listTradeSaleResults>>): TradeDetail['allocation'] {
  if (rows.length === 0) return null;
  const key = (u: { platform: string; tradeId: string }) => `${u.platform}:${u.tradeId}`;
  const placed = new Set(rows.flatMap((r) => r.declared));
  for (const r of rows)
    for (const d of r.discrepancies) if (d.reason !== 'not_a_purchase') placed.add(key(d.upstream));
  return {
    by_material: rows.map((r) => ({
      material: r.material,
      quantity_kg: formatKg(r.quantity_g),
      unsourced_kg: formatKg(r.unsourced_g),
      claim_discrepancies: r.discrepancies
        .filter((d) => d.reason !== 'not_a_purchase' || !placed.has(key(d.upstream)))
        .map((d) => ({
          upstream: { platform: d.upstream.platform, trade_id: d.upstream.tradeId },
          claimed_kg: formatKg(BigInt(d.claimed_g)),
          granted_kg: formatKg(BigInt(d.granted_g)),
          reason: d.reason as 'not_a_purchase' | 'later_purchase' | 'exceeds_remaining',
        })),
    })),
  };
}
