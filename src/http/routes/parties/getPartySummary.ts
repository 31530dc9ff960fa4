import { createRoute, z } from '@hono/zod-openapi';
import { isPeriod, periodBounds, type ReferenceSheet, sheetFromFacts } from '../../../domain/reference-sheet';
import { loadReferenceSheetData } from '../../../repositories/parties-query.repository';
import type { App } from '../../app';
import { addAuditSubjects, officerScope, ROLES_FOR, requireRole } from '../../auth';
import { Coalescer } from '../../coalesce';
import {
  kgString,
  moneyString,
  notFoundError,
  partyRefSchema,
  type QueryRouteDeps,
  readErrors,
} from '../query-wire';
import { findVisibleParty, partyKeyPathParam } from './getParty';
import { type SheetPartyRow, sheetParty } from './sheet-party';

const ratio = (description: string) =>
  z
    .string()
    .nullable()
    .openapi({
      description: `${description} — decimal string with 4 decimals, rounded half-up ("0.9750"); null when the denominator is 0`,
      example: '0.9750',
    });

const amountQty = (what: string) =>
  z.object({
    amount: moneyString(`Σ line amounts (tax inclusive) of ${what}`),
    quantity_kg: kgString(`Σ line quantities of ${what}`),
  });

const purchaseFields = {
  trades: z
    .number()
    .int()
    .openapi({ description: 'Number of purchases (a trade counts once per material it has)' }),
  amount: moneyString(
    'Σ line amounts (tax inclusive) of the month’s active purchases, trades where the party is the buyer',
  ),
  quantity_kg: kgString('Σ line quantities of those purchases'),
  from_natural_persons: amountQty('the purchases whose seller is a natural person'),
  reverse_invoiced: amountQty('the purchases declared under the `reverse_invoice` treatment'),
};
const saleFields = {
  trades: z
    .number()
    .int()
    .openapi({ description: 'Number of sales (a trade counts once per material it has)' }),
  amount: moneyString(
    'Σ line amounts (tax inclusive) of the month’s active sales, trades where the party is the seller',
  ),
  quantity_kg: kgString('Σ line quantities of those sales'),
  reverse_invoiced: amountQty('the sales declared under the `reverse_invoice` treatment'),
};

const coverageFlow = (flow: string) =>
  z.object({
    matched_trades: z
      .number()
      .int()
      .openapi({ description: `Trades whose ${flow} flow status is \`matched\`` }),
    trade_ratio: ratio(`matched_trades ÷ trades`),
    amount_ratio: ratio(`Σ total of the matched trades ÷ Σ total of the trades`),
  });

const invoiceTotals = (what: string) =>
  z.object({
    invoices: z
      .number()
      .int()
      .openapi({ description: `Number of ${what}` }),
    amount_ex_tax: moneyString(`Σ total_ex_tax of ${what}`),
    tax: moneyString(`Σ total_tax of ${what}`),
    amount: moneyString(`Σ total of ${what}`),
  });

export const referenceSheetSchema = z
  .object({
    party: partyRefSchema,
    period: z.string().openapi({ description: 'Asia/Shanghai calendar month', example: '2026-10' }),
    purchases: z
      .object({
        total: z.object(purchaseFields),
        by_material: z.array(z.object({ material: z.string(), ...purchaseFields })),
      })
      .openapi({
        description:
          'Active trades of the month (occurred_at in the period) where the party is the buyer, per line',
      }),
    sales: z
      .object({
        total: z.object(saleFields),
        by_material: z.array(z.object({ material: z.string(), ...saleFields })),
      })
      .openapi({ description: 'Active trades of the month where the party is the seller, per line' }),
    stock: z
      .array(
        z.object({
          material: z.string(),
          opening_kg: kgString(
            'Closing stock of the previous month: Σ purchases − Σ (sales − their unsourced part) before the period',
          ),
          in_kg: kgString('Σ purchases of the month'),
          out_kg: kgString(
            'What left stock in the month: Σ sales − their unsourced part (opening_kg + in_kg − out_kg = closing_kg)',
          ),
          unsourced_out_kg: kgString(
            'The part of the month’s sales that no earlier purchase covered (it did not come from stock)',
          ),
          sold_kg: kgString('Σ sales of the month: out_kg + unsourced_out_kg'),
          closing_kg: kgString('opening_kg + in_kg − out_kg; never negative'),
          allocation_pending: z.boolean().openapi({
            description:
              'The stream waits for re-allocation after a late or amended record: the unsourced part was computed from ' +
              'the entries as they are now (the same allocation processing will store)',
          }),
        }),
      )
      .openapi({
        description: 'Mass balance per material (materials with no stock and no movement are left out)',
      }),
    flow_coverage: z
      .object({
        trades: z
          .number()
          .int()
          .openapi({ description: 'The party’s active trades of the month (as seller or buyer)' }),
        amount: moneyString('Σ total of those trades'),
        payment: coverageFlow('funds'),
        weighing: coverageFlow('goods'),
        invoice: coverageFlow('invoice').extend({
          expected_trades: z
            .number()
            .int()
            .openapi({
              description:
                'Trades that expect an invoice (enterprise seller, or a reverse-invoiced sale by a natural person): the ' +
                'denominator of the invoice ratios',
            }),
          expected_amount: moneyString('Σ total of the trades that expect an invoice'),
        }),
      })
      .openapi({
        description: 'How much of the month’s trading is backed by matched payments, weighings and invoices',
      }),
    tax: z.object({
      output_by_treatment: z
        .array(
          z.object({
            treatment: z.string().openapi({ example: 'simple_3' }),
            levy_rate: z.string().nullable().openapi({
              description: 'Levy rate valid on the trades’ dates (tax_treatments); null if none is',
              example: '0.03',
            }),
            trades: z.number().int(),
            amount: moneyString('Σ total (tax inclusive) of the sales under this treatment and rate'),
            amount_ex_tax: moneyString(
              'Σ per sale of total ÷ (1 + levy_rate), rounded half-up to the fen (the total itself when exempt)',
            ).nullable(),
            tax: moneyString('Σ per sale of total − its amount excluding VAT (0 when exempt)').nullable(),
            exempt: z.boolean().openapi({
              description:
                'A natural person’s own reverse-invoiced sales within the monthly exemption (Σ excluding VAT to every buyer ≤ the exemption, as in `reverse_invoice_withholding`): no VAT',
            }),
          }),
        )
        .openapi({
          description:
            'Reference output VAT on the party’s sales of the month, grouped by treatment and levy rate',
        }),
      output_total: z.object({
        trades: z.number().int(),
        amount: moneyString('Σ amount of the rated groups'),
        amount_ex_tax: moneyString('Σ amount_ex_tax of the rated groups'),
        tax: moneyString('Σ tax of the rated groups'),
      }),
      output_unrated: z
        .object({
          trades: z.number().int(),
          amount: moneyString('Σ total of sales with no levy rate valid on their date'),
        })
        .openapi({ description: 'Sales whose treatment has no rate on their date (left out of the totals)' }),
      input_on_received_invoices: z
        .object({
          by_kind: z.array(invoiceTotals('blue invoices of this kind').extend({ kind: z.string() })),
          blue: invoiceTotals('blue invoices (special, ordinary, reverse) to the party issued in the month'),
          red: invoiceTotals(
            'red-letter invoices issued in the month that reverse a blue invoice to the party (negative amounts)',
          ),
          net: invoiceTotals('blue + red; `net.tax` is the reference input VAT of the month'),
        })
        .openapi({
          description:
            'VAT on the invoices the party received: blue of the month, net of red issued in the month',
        }),
      reverse_invoice_withholding: z
        .object({
          basis: z.enum(['purchases_from_natural_persons', 'own_sales']).openapi({
            description:
              '`purchases_from_natural_persons`: the party is an enterprise, figures are on its reverse-invoiced ' +
              'purchases from each natural person; `own_sales`: the party is a natural person, figures are on its own ' +
              'reverse-invoiced sales to every buyer',
          }),
          persons: z.number().int().openapi({
            description:
              'Natural persons with rated reverse-invoiced trades in the month (their rows: `persons_href`)',
          }),
          exempt_persons: z.number().int().openapi({
            description: 'Of those, the persons whose amount_ex_tax is within the monthly exemption',
          }),
          persons_href: z.string().openapi({
            description:
              'The per-person rows, a page at a time: `GET /v1/parties/{key}/summary/withholding?period=` ' +
              '(listed apart: a station buys from thousands of persons a month)',
            example: '/v1/parties/91440703MA4UJ2KX0K/summary/withholding?period=2026-10',
          }),
          total: z.object({
            trades: z.number().int(),
            amount: moneyString('Σ amount of the persons'),
            amount_ex_tax: moneyString('Σ amount_ex_tax of the persons'),
            vat: moneyString('Σ vat of the persons'),
            iit: moneyString('Σ iit of the persons'),
          }),
          unrated: z.object({
            trades: z.number().int(),
            amount: moneyString(
              'Reverse-invoiced trades dated before reverse invoicing had a rate (left out)',
            ),
          }),
        })
        .openapi({
          description:
            'VAT and individual income tax withheld under reverse invoicing (国家税务总局公告2024年第5号), per natural ' +
            'person and month',
        }),
    }),
    anomalies: z
      .array(
        z.object({
          rule: z.string().openapi({ example: 'UNSOURCED_SALE' }),
          open: z.number().int(),
          confirmed: z.number().int(),
          total: z.number().int(),
          highest_severity: z.enum(['low', 'medium', 'high', 'critical']),
        }),
      )
      .openapi({
        description: 'Findings of the party for the period with status open or confirmed, counted by rule',
      }),
  })
  .openapi('ReferenceSheet');

const example: ReferenceSheet = {
  party: {
    key: '91440703MA4UJ2KX0K',
    kind: 'enterprise',
    name: '蓬江绿源再生资源回收站',
    division: '440703',
  },
  period: '2026-10',
  purchases: {
    total: {
      trades: 2,
      amount: '4400.00',
      quantity_kg: '2000.000',
      from_natural_persons: { amount: '4400.00', quantity_kg: '2000.000' },
      reverse_invoiced: { amount: '4400.00', quantity_kg: '2000.000' },
    },
    by_material: [
      {
        material: 'FE_HEAVY',
        trades: 2,
        amount: '4400.00',
        quantity_kg: '2000.000',
        from_natural_persons: { amount: '4400.00', quantity_kg: '2000.000' },
        reverse_invoiced: { amount: '4400.00', quantity_kg: '2000.000' },
      },
    ],
  },
  sales: {
    total: {
      trades: 1,
      amount: '5500.00',
      quantity_kg: '2500.000',
      reverse_invoiced: { amount: '0.00', quantity_kg: '0.000' },
    },
    by_material: [
      {
        material: 'FE_HEAVY',
        trades: 1,
        amount: '5500.00',
        quantity_kg: '2500.000',
        reverse_invoiced: { amount: '0.00', quantity_kg: '0.000' },
      },
    ],
  },
  stock: [
    {
      material: 'FE_HEAVY',
      opening_kg: '0.000',
      in_kg: '2000.000',
      out_kg: '2000.000',
      unsourced_out_kg: '500.000',
      sold_kg: '2500.000',
      closing_kg: '0.000',
      allocation_pending: false,
    },
  ],
  flow_coverage: {
    trades: 3,
    amount: '9900.00',
    payment: { matched_trades: 3, trade_ratio: '1.0000', amount_ratio: '1.0000' },
    weighing: { matched_trades: 2, trade_ratio: '0.6667', amount_ratio: '0.7778' },
    invoice: {
      expected_trades: 3,
      expected_amount: '9900.00',
      matched_trades: 1,
      trade_ratio: '0.3333',
      amount_ratio: '0.5556',
    },
  },
  tax: {
    output_by_treatment: [
      {
        treatment: 'simple_3',
        levy_rate: '0.03',
        trades: 1,
        amount: '5500.00',
        amount_ex_tax: '5339.81',
        tax: '160.19',
        exempt: false,
      },
    ],
    output_total: { trades: 1, amount: '5500.00', amount_ex_tax: '5339.81', tax: '160.19' },
    output_unrated: { trades: 0, amount: '0.00' },
    input_on_received_invoices: {
      by_kind: [{ kind: 'reverse', invoices: 2, amount_ex_tax: '4356.44', tax: '43.56', amount: '4400.00' }],
      blue: { invoices: 2, amount_ex_tax: '4356.44', tax: '43.56', amount: '4400.00' },
      red: { invoices: 0, amount_ex_tax: '0.00', tax: '0.00', amount: '0.00' },
      net: { invoices: 2, amount_ex_tax: '4356.44', tax: '43.56', amount: '4400.00' },
    },
    reverse_invoice_withholding: {
      basis: 'purchases_from_natural_persons',
      persons: 1,
      exempt_persons: 1,
      persons_href: '/v1/parties/91440703MA4UJ2KX0K/summary/withholding?period=2026-10',
      total: { trades: 2, amount: '4400.00', amount_ex_tax: '4356.44', vat: '0.00', iit: '21.78' },
      unrated: { trades: 0, amount: '0.00' },
    },
  },
  anomalies: [{ rule: 'UNSOURCED_SALE', open: 1, confirmed: 0, total: 1, highest_severity: 'high' }],
};

export const summaryQuery = z.object({
  period: z
    .string({ error: 'is required: an Asia/Shanghai calendar month, YYYY-MM' })
    .refine(isPeriod, 'must be a calendar month YYYY-MM (years 1900–2999), e.g. 2026-10')
    .openapi({ description: 'Asia/Shanghai calendar month (YYYY-MM)', example: '2026-10' }),
});

export const getPartySummaryRoute = createRoute({
  operationId: 'getPartySummary',
  method: 'get',
  path: '/v1/parties/{key}/summary',
  tags: ['parties'],
  summary: 'The monthly VAT reference sheet of a party',
  description:
    'Reference figures for one Asia/Shanghai calendar month, computed from the party’s active trades, its stock ' +
    'streams and allocation, the invoices it received, the VAT treatments table and its findings. Every figure ' +
    'says how it is computed; all sums are exact (fen, grams) and every division is rounded half-up. This is ' +
    'reference data with its evidence, never a tax determination. A party outside your divisions answers 404.',
  security: [{ bearer: [] }],
  middleware: [requireRole(...ROLES_FOR.readRecords)] as const,
  request: { params: partyKeyPathParam, query: summaryQuery },
  responses: {
    200: {
      description: 'The reference sheet',
      content: { 'application/json': { schema: referenceSheetSchema, example } },
    },
    ...readErrors(),
    ...notFoundError('No such party in your divisions (or the key is not a USCC or a person key)'),
  },
});

const utf8 = new TextEncoder();

export function registerGetPartySummary(app: App, deps: QueryRouteDeps): void {
  // Officers opening the same sheet at once share one computation that started after each of them
  // asked (src/http/coalesce.ts): as fresh as computing it per request, at a fraction of the cost.
  // The run's JSON is encoded once and the same bytes are written to every socket.
  const sheets = new Coalescer<Uint8Array<ArrayBuffer>>();
  const computeSheet = async (p: SheetPartyRow, period: string) => {
    const { startMs, endMs } = periodBounds(period);
    const party = sheetParty(p);
    const data = await loadReferenceSheetData(deps.db, party, period, {
      start: new Date(startMs),
      end: new Date(endMs),
    });
    const sheet: ReferenceSheet = sheetFromFacts({ party, period, ...data });
    return utf8.encode(JSON.stringify(sheet));
  };

  app.openapi(getPartySummaryRoute, async (c) => {
    const { key } = c.req.valid('param');
    const { period } = c.req.valid('query');
    const p = await findVisibleParty(deps.db, officerScope(c.get('officer')!), key);
    const body = await sheets.run(`${p.party_key}|${period}`, () => computeSheet(p, period));
    // The sheet names the party only: the persons of its withholding section are listed apart
    // (getPartyWithholding), and audited there.
    addAuditSubjects(c, { parties: [p.party_key] });
    // The body is the sheet's JSON (type ReferenceSheet, the schema above), which the typed
    // handler cannot see through a pre-serialised body.
    return c.body(body, 200, { 'content-type': 'application/json' }) as never;
  });
}
