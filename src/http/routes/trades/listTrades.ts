import { createRoute, z } from '@hono/zod-openapi';
import { isValidDivision } from '../../../domain/ids';
import { formatKg, formatMoney } from '../../../domain/money';
import { PLATFORM_CODE } from '../../../repositories/platforms.repository';
import {
  listTrades,
  TRADE_LIST_STATUSES,
  type TradeCursor,
  type TradeRow,
} from '../../../repositories/trades-query.repository';
import type { App } from '../../app';
import { addAuditSubjects, divisionFilter, officerScope, ROLES_FOR, requireRole } from '../../auth';
import { cursorParam, DEFAULT_LIMIT, limitParam } from '../pagination';
import {
  FLOW_STATUSES,
  instantParam,
  kgString,
  moneyString,
  OVERALL_STATUSES,
  partyKeyParam,
  partyRef,
  partyRefSchema,
  type QueryRouteDeps,
  readErrors,
  shanghaiTime,
  timeString,
} from '../query-wire';

// Cursor instants are kept within 1900…2999, like every time parameter: PostgreSQL and JS Date
// both represent that range exactly.
const MIN_MICROS = BigInt(Date.UTC(1900, 0, 1)) * 1000n;
const MAX_MICROS = BigInt(Date.UTC(3000, 0, 1)) * 1000n;
const MAX_CURSOR_CHARS = 1024;

/**
 * Opaque cursor: base64url of the JSON `["<occurred_at in µs>", "<platform>", "<trade_id>"]` of the
 * last trade of the page.
 */
export function encodeTradeCursor(c: TradeCursor): string {
  return Buffer.from(JSON.stringify([c.atMicros.toString(), c.platform, c.tradeId]), 'utf8').toString(
    'base64url',
  );
}

export function decodeTradeCursor(cursor: string): TradeCursor | null {
  if (cursor.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(cursor)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(parsed) || parsed.length !== 3 || !parsed.every((x) => typeof x === 'string'))
    return null;
  const [micros, platform, tradeId] = parsed as string[];
  if (!/^(-?[1-9]\d{0,17}|0)$/.test(micros!) || !PLATFORM_CODE.test(platform!)) return null;
  if (tradeId!.length === 0 || tradeId!.length > 200) return null;
  const c = { atMicros: BigInt(micros!), platform: platform!, tradeId: tradeId! };
  if (c.atMicros < MIN_MICROS || c.atMicros >= MAX_MICROS) return null;
  // One position, one spelling.
  return encodeTradeCursor(c) === cursor ? c : null;
}

export const listTradesQuery = z
  .object({
    party: partyKeyParam('Trades where this party is the seller or the buyer').optional(),
    seller: partyKeyParam('Trades sold by this party').optional(),
    buyer: partyKeyParam('Trades bought by this party').optional(),
    material: z
      .string()
      .regex(/^[A-Z][A-Z0-9_]{0,31}$/, 'must be a material code such as FE_HEAVY')
      .optional()
      .openapi({ description: 'Trades with a line of this material', example: 'FE_HEAVY' }),
    division: z
      .string()
      .refine(isValidDivision, 'must be a 6-digit division code below province level, e.g. 440703')
      .optional()
      .openapi({
        description:
          'Of the trades you see (a party in one of your divisions), those whose seller or buyer is in this ' +
          'division (440700 = all of Jiangmen) — another district too: a trade between your district and it is listed',
        example: '440703',
      }),
    from: instantParam('Trades that occurred at or after this time (inclusive)', '2026-10-01T00:00:00+08:00'),
    to: instantParam('Trades that occurred before this time (exclusive)', '2026-11-01T00:00:00+08:00'),
    status: z
      .enum(TRADE_LIST_STATUSES, {
        error: `must be one of ${TRADE_LIST_STATUSES.join(', ')}`,
      })
      .optional()
      .openapi({
        description:
          '`active` / `cancelled`: the trade’s own status. `reconciled` / `pending` / `discrepant`: the overall ' +
          'status of its four flows, among active trades only (a trade whose flows are not computed yet is `pending`)',
        example: 'discrepant',
      }),
    limit: limitParam(),
    cursor: cursorParam(decodeTradeCursor, 'WyIxNzkxMjQ2NTAwMDAwMDAwIiwiam1yciIsIlQtMTAwMSJd'),
  })
  .superRefine((q, ctx) => {
    if (q.from !== undefined && q.to !== undefined && Date.parse(q.from) >= Date.parse(q.to)) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be later than `from`' });
    }
  });

export const flowSummarySchema = z
  .object({
    payment: z
      .enum(FLOW_STATUSES)
      .openapi({ description: 'Funds: payments net of reversals against the total' }),
    weighing: z
      .enum(FLOW_STATUSES)
      .openapi({ description: 'Goods: Σ net weight of the tickets against the quantity' }),
    invoice: z
      .enum(FLOW_STATUSES)
      .openapi({ description: 'Invoice: amount, quantity, material and parties' }),
    overall: z.enum(OVERALL_STATUSES),
  })
  .openapi('FlowSummary');

export const tradeSummarySchema = z
  .object({
    id: z.string().openapi({ description: 'Internal id (decimal string)', example: '42' }),
    platform: z.string().openapi({ example: 'jmrr' }),
    trade_id: z.string().openapi({ description: 'The platform’s trade id', example: 'T-1001' }),
    version: z
      .number()
      .int()
      .openapi({ description: 'Current version (a cancellation is a version too)', example: 1 }),
    status: z.enum(['active', 'cancelled']),
    occurred_at: timeString('When the trade took place'),
    seller: partyRefSchema,
    buyer: partyRefSchema,
    site: z.object({
      code: z.string().openapi({ example: 'JM-PJ-007' }),
      division: z.string().openapi({ example: '440703' }),
    }),
    materials: z.array(z.string()).openapi({ example: ['FE_HEAVY'] }),
    quantity_kg: kgString('Σ quantity of the lines'),
    amount: moneyString('Total, tax inclusive'),
    tax_treatment: z.string().openapi({
      description: 'simple_3 | general_13 | small_scale_1 | reverse_invoice | exempt',
      example: 'reverse_invoice',
    }),
    flow: flowSummarySchema
      .nullable()
      .openapi({ description: 'Four-flow statuses; null until first computed' }),
  })
  .openapi('TradeSummary');

export type TradeSummary = z.infer<typeof tradeSummarySchema>;
type FlowStatus = (typeof FLOW_STATUSES)[number];
type OverallStatus = (typeof OVERALL_STATUSES)[number];

export const tradeSummaryExample: TradeSummary = {
  id: '42',
  platform: 'jmrr',
  trade_id: 'T-1001',
  version: 1,
  status: 'active',
  occurred_at: '2026-10-02T08:15:00+08:00',
  seller: {
    key: 'np_mfrggzdfmztwq2lknnwg23tpobyxe43u',
    kind: 'natural_person',
    name: '张三',
    division: '440703',
  },
  buyer: {
    key: '91440703MA4UJ2KX0K',
    kind: 'enterprise',
    name: '蓬江绿源再生资源回收站',
    division: '440703',
  },
  site: { code: 'JM-PJ-007', division: '440703' },
  materials: ['FE_HEAVY'],
  quantity_kg: '12345.000',
  amount: '27159.00',
  tax_treatment: 'reverse_invoice',
  flow: { payment: 'matched', weighing: 'matched', invoice: 'missing', overall: 'pending' },
};

export function toTradeSummary(t: TradeRow): TradeSummary {
  return {
    id: t.id.toString(),
    platform: t.platform,
    trade_id: t.trade_id,
    version: t.version,
    status: t.status === 'cancelled' ? 'cancelled' : 'active',
    occurred_at: shanghaiTime(t.occurred_at),
    seller: partyRef(t.seller_key, t.seller_kind, t.seller_name, t.seller_division),
    buyer: partyRef(t.buyer_key, t.buyer_kind, t.buyer_name, t.buyer_division),
    site: { code: t.site_code, division: t.site_division },
    materials: t.materials,
    quantity_kg: formatKg(t.quantity_g),
    amount: formatMoney(t.total_fen),
    tax_treatment: t.tax_treatment,
    flow:
      t.overall === null
        ? null
        : {
            payment: t.payment_status as FlowStatus,
            weighing: t.weighing_status as FlowStatus,
            invoice: t.invoice_status as FlowStatus,
            overall: t.overall as OverallStatus,
          },
  };
}

export const listTradesRoute = createRoute({
  operationId: 'listTrades',
  method: 'get',
  path: '/v1/trades',
  tags: ['trades'],
  summary: 'Trades in your divisions, newest first',
  description:
    'Trades whose seller or buyer is in one of your divisions (440700 covers all of Jiangmen), ordered by ' +
    '`occurred_at` then `id`, both descending. Filters narrow this set and never widen it. Party filters take a USCC ' +
    'or a person key (`np_…`, as handed out by this API) — never a raw id number. Cursor pagination: pass ' +
    '`next_cursor` back as `cursor` with the same filters. Each request is audited with the parties and trades listed.',
  security: [{ bearer: [] }],
  middleware: [requireRole(...ROLES_FOR.readRecords)] as const,
  request: { query: listTradesQuery },
  responses: {
    200: {
      description: 'A page of trades',
      content: {
        'application/json': {
          schema: z
            .object({
              items: z.array(tradeSummarySchema),
              next_cursor: z
                .string()
                .nullable()
                .openapi({ description: 'Pass as `cursor` for the next page; null at the end' }),
            })
            .openapi('TradeList'),
          example: { items: [tradeSummaryExample], next_cursor: 'MTc5MTI0NjUwMDAwMDAwMC40Mg' },
        },
      },
    },
    // No 404: a list outside your divisions is an empty list.
    ...readErrors(),
  },
});

export function registerListTrades(app: App, deps: QueryRouteDeps): void {
  app.openapi(listTradesRoute, async (c) => {
    const q = c.req.valid('query');
    const officer = c.get('officer')!;
    const scope = officerScope(officer);
    const limit = q.limit === undefined ? DEFAULT_LIMIT : Number(q.limit);
    const { items, more } = await listTrades(deps.db, {
      scope: divisionFilter(scope),
      // Of the trades in scope, those with a party in `division` (in scope or not: the other party is).
      division:
        q.division === undefined ? undefined : divisionFilter({ all: false, divisions: [q.division] }),
      party: q.party,
      seller: q.seller,
      buyer: q.buyer,
      material: q.material,
      from: q.from === undefined ? undefined : new Date(q.from),
      to: q.to === undefined ? undefined : new Date(q.to),
      status: q.status,
      after: q.cursor === undefined ? undefined : (decodeTradeCursor(q.cursor) ?? undefined),
      limit,
    });
    addAuditSubjects(c, {
      parties: items.flatMap((t) => [t.seller_key, t.buyer_key]),
      trades: items.map((t) => t.id),
    });
    const last = items[items.length - 1];
    return c.json(
      {
        items: items.map(toTradeSummary),
        next_cursor:
          more && last
            ? encodeTradeCursor({ atMicros: last.at_micros, platform: last.platform, tradeId: last.trade_id })
            : null,
      },
      200,
    );
  });
}
