import { createRoute, z } from '@hono/zod-openapi';
import {
  periodBounds,
  type WithholdingRow,
  withholdingBasis,
  withholdingPersons,
  withholdingRow,
} from '../../../domain/reference-sheet';
import { loadWithholdingPage, type SheetParty } from '../../../repositories/parties-query.repository';
import type { App } from '../../app';
import { addAuditSubjects, officerScope, ROLES_FOR, requireRole } from '../../auth';
import { Coalescer } from '../../coalesce';
import { cursorParam, limitParam, pageLimit } from '../pagination';
import { isPartyKey, moneyString, notFoundError, type QueryRouteDeps, readErrors } from '../query-wire';
import { findVisibleParty, partyKeyPathParam } from './getParty';
import { summaryQuery } from './getPartySummary';
import { sheetParty } from './sheet-party';

export const withholdingRowSchema = z
  .object({
    party_key: z.string().openapi({
      description: 'The natural person’s person key',
      example: 'np_mfrggzdfmztwq2lknnwg23tpobyxe43u',
    }),
    name: z.string().openapi({ example: '张三' }),
    trades: z.number().int().openapi({ description: 'Rated reverse-invoiced trades of the month' }),
    amount: moneyString('Σ total (tax inclusive) of the reverse-invoiced trades of the month', '4400.00'),
    amount_ex_tax: moneyString(
      'Σ per trade of total ÷ (1 + levy rate of reverse_invoice on its date), half-up',
      '4356.44',
    ),
    monthly_exemption: moneyString(
      'Monthly exemption of reverse_invoice (excluding VAT) in force on the person’s last trade of the month',
      '100000.00',
    ).nullable(),
    exempt: z.boolean().openapi({ description: 'amount_ex_tax ≤ monthly_exemption' }),
    vat_rate: z.string().nullable().openapi({
      description: 'The levy rate, when all the month’s trades had the same one',
      example: '0.01',
    }),
    vat: moneyString('0 when exempt, else Σ per rate of amount_ex_tax × rate, rounded half-up to the fen'),
    iit: moneyString(
      'Individual income tax prepaid: amount_ex_tax × the prepay rate (0.5%), rounded half-up (whether or not VAT-exempt)',
      '21.78',
    ),
  })
  .openapi('WithholdingPerson');

/** Opaque cursor: base64url of the last person key of the page. */
export const encodePersonCursor = (key: string) => Buffer.from(key, 'utf8').toString('base64url');
export function decodePersonCursor(cursor: string): string | null {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(cursor)) return null;
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  return isPartyKey(key) && encodePersonCursor(key) === cursor ? key : null;
}

export const getPartyWithholdingRoute = createRoute({
  operationId: 'getPartyWithholding',
  method: 'get',
  path: '/v1/parties/{key}/summary/withholding',
  tags: ['parties'],
  summary: 'The reference sheet’s reverse-invoice withholding, per natural person',
  description:
    'The rows behind `tax.reverse_invoice_withholding` of the reference sheet (`…/summary`): per natural person ' +
    'and month, VAT and individual income tax withheld under reverse invoicing (国家税务总局公告2024年第5号). ' +
    'For an enterprise, its reverse-invoiced purchases from each natural person; for a natural person, its own ' +
    'reverse-invoiced sales (one row). Ordered by person key; cursor pagination (pass `next_cursor` back as ' +
    '`cursor`). The sheet’s totals are the sums of these rows over every page. Each request is audited with the ' +
    'persons listed. A party outside your divisions answers 404.',
  security: [{ bearer: [] }],
  middleware: [requireRole(...ROLES_FOR.readRecords)] as const,
  request: {
    params: partyKeyPathParam,
    query: summaryQuery.extend({
      limit: limitParam(),
      cursor: cursorParam(decodePersonCursor, encodePersonCursor('np_mfrggzdfmztwq2lknnwg23tpobyxe43u')),
    }),
  },
  responses: {
    200: {
      description: 'One page of persons',
      content: {
        'application/json': {
          schema: z.object({
            party: z
              .string()
              .openapi({ description: 'The sheet’s party key', example: '91440703MA4UJ2KX0K' }),
            period: z.string().openapi({ example: '2026-10' }),
            basis: z.enum(['purchases_from_natural_persons', 'own_sales']),
            items: z.array(withholdingRowSchema),
            next_cursor: z
              .string()
              .nullable()
              .openapi({ description: 'Pass as `cursor` for the next page; null at the end' }),
          }),
          example: {
            party: '91440703MA4UJ2KX0K',
            period: '2026-10',
            basis: 'purchases_from_natural_persons',
            items: [
              {
                party_key: 'np_mfrggzdfmztwq2lknnwg23tpobyxe43u',
                name: '张三',
                trades: 2,
                amount: '4400.00',
                amount_ex_tax: '4356.44',
                monthly_exemption: '100000.00',
                exempt: true,
                vat_rate: '0.01',
                vat: '0.00',
                iit: '21.78',
              },
            ],
            next_cursor: null,
          },
        },
      },
    },
    ...readErrors(),
    ...notFoundError('No such party in your divisions (or the key is not a USCC or a person key)'),
  },
});

export function registerGetPartyWithholding(app: App, deps: QueryRouteDeps): void {
  // Officers paging through the same sheet at once share each page's read (src/http/coalesce.ts).
  const pages = new Coalescer<WithholdingPage>();
  const readPage = async (party: SheetParty, period: string, after: string | null, limit: number) => {
    const { startMs, endMs } = periodBounds(period);
    const page = await loadWithholdingPage(
      deps.db,
      party,
      period,
      { start: new Date(startMs), end: new Date(endMs) },
      { after, limit: limit + 1 },
    );
    const { persons } = withholdingPersons(page.groups, page.treatments, period);
    const items = persons.slice(0, limit).map((w) => withholdingRow(w, page.names.get(w.partyKey) ?? ''));
    const last = items[items.length - 1];
    return { items, nextCursor: persons.length > limit && last ? encodePersonCursor(last.party_key) : null };
  };

  app.openapi(getPartyWithholdingRoute, async (c) => {
    const { key } = c.req.valid('param');
    const q = c.req.valid('query');
    const p = await findVisibleParty(deps.db, officerScope(c.get('officer')!), key);
    const party = sheetParty(p);
    const limit = pageLimit(q.limit);
    const after = q.cursor === undefined ? null : decodePersonCursor(q.cursor);
    const { items, nextCursor } = await pages.run(`${party.key}|${q.period}|${after ?? ''}|${limit}`, () =>
      readPage(party, q.period, after, limit),
    );
    addAuditSubjects(c, { parties: [party.key, ...items.map((i) => i.party_key)] });
    return c.json(
      {
        party: party.key,
        period: q.period,
        basis: withholdingBasis(party.kind),
        items,
        next_cursor: nextCursor,
      },
      200,
    );
  });
}

interface WithholdingPage {
  items: WithholdingRow[];
  nextCursor: string | null;
}
