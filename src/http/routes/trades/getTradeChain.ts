import { createRoute, z } from '@hono/zod-openapi';
import { buildChain, type ChainNode, type ChainParty } from '../../../chains/chain.service';
import { auditText } from '../../../repositories/audit.repository';
import { parseTradeKey } from '../../../repositories/chains.repository';
import { findTradeDivisions } from '../../../repositories/trades-query.repository';
import type { App } from '../../app';
import {
  addAuditSubjects,
  canSee,
  type OfficerScope,
  officerScope,
  ROLES_FOR,
  requireRole,
} from '../../auth';
import { ProblemError } from '../../problems';
import {
  kgString,
  moneyString,
  notFoundError,
  partyRefSchema,
  type QueryRouteDeps,
  readErrors,
  shanghaiTime,
  timeString,
} from '../query-wire';
import { tradeIdParam } from './getTrade';

const DEFAULT_DEPTH = 10;
const REDACTED_LABEL = 'another district' as const;

const chainQuery = z.object({
  direction: z
    .enum(['upstream', 'downstream', 'both'], { error: 'must be upstream, downstream or both' })
    .optional()
    .openapi({
      description:
        '`upstream`: the purchases the root was supplied from, back to the origins; `downstream`: the sales it ' +
        'supplied, on to the end users; `both` (default)',
      example: 'upstream',
    }),
  max_depth: z
    .string()
    .regex(/^(?:[1-9]|1\d|20)$/, 'must be a whole number from 1 to 20')
    .optional()
    .openapi({
      type: 'integer',
      minimum: 1,
      maximum: 20,
      default: DEFAULT_DEPTH,
      description: `Allocation steps from the root to return (default ${DEFAULT_DEPTH}); \`truncated\` says when the chain goes further`,
    }),
});

const visiblePartySchema = partyRefSchema
  .extend({ redacted: z.literal(false) })
  .openapi('ChainParty', { description: 'A party in (or trading with) your divisions' });
const redactedPartySchema = z
  .object({
    redacted: z.literal(true),
    label: z.literal(REDACTED_LABEL),
    division: z
      .string()
      .openapi({ description: 'The party’s division, the only thing shown', example: '440705' }),
  })
  .openapi('RedactedParty', {
    description: 'A party of a trade none of whose parties is in your divisions: no name, no key',
  });
const chainPartySchema = z.union([visiblePartySchema, redactedPartySchema]);

const nodeSchema = z
  .object({
    id: z.string().openapi({ description: 'Internal trade id (node id)', example: '42' }),
    platform: z.string().openapi({ example: 'jmrr' }),
    trade_id: z
      .string()
      .nullable()
      .openapi({ description: 'null when the node is redacted', example: 'T-1001' }),
    redacted: z.boolean().openapi({
      description: 'true when neither party is in your divisions: parties, trade id and amount are withheld',
    }),
    seller: chainPartySchema,
    buyer: chainPartySchema,
    material: z.string().openapi({ description: 'Material code(s), comma-separated', example: 'FE_HEAVY' }),
    quantity_kg: kgString('Quantity of the trade'),
    amount: moneyString('Total, tax inclusive; null when redacted').nullable(),
    occurred_at: timeString('When the trade took place'),
    depth: z.number().int().openapi({ description: 'Allocation steps from the root (0 = root)', example: 1 }),
    side: z.enum(['root', 'upstream', 'downstream']),
    status: z.enum(['active', 'cancelled']),
  })
  .openapi('ChainNode');

const chainSchema = z
  .object({
    root: z.string().openapi({ description: 'Node id of the trade asked for', example: '42' }),
    nodes: z.array(nodeSchema),
    edges: z.array(
      z
        .object({
          from: z.string().openapi({ description: 'Node id of the supplying purchase', example: '17' }),
          to: z.string().openapi({ description: 'Node id of the sale it supplied', example: '42' }),
          quantity_kg: kgString('Quantity allocated'),
          basis: z.enum(['declared', 'fifo']).openapi({
            description:
              '`declared`: the sale’s `upstream` claim; `fifo`: first-in-first-out over the remaining stock',
          }),
        })
        .openapi('ChainEdge'),
    ),
    origins: z
      .object({
        natural_person_kg: kgString('First sold by natural persons'),
        enterprise_kg: kgString('First sold by an enterprise that generates scrap itself'),
        unsourced_kg: kgString('Sold by a recycler or sorting center beyond what it had bought'),
      })
      .openapi({
        description: 'The root’s quantity split by origin, traced proportionally upstream (mass balance)',
      }),
    truncated: z
      .boolean()
      .openapi({ description: 'The chain goes beyond `max_depth` (or origins beyond 20 steps)' }),
  })
  .openapi('Chain');

type ChainWire = z.infer<typeof chainSchema>;
type NodeWire = z.infer<typeof nodeSchema>;

export const getTradeChainRoute = createRoute({
  operationId: 'getTradeChain',
  method: 'get',
  path: '/v1/trades/{id}/chain',
  tags: ['trades'],
  summary: 'The transaction chain of a trade',
  description:
    'Trades linked to the root by allocation (each sale allocated to the seller’s earlier purchases of the same ' +
    'material: declared `upstream` first, then FIFO), up to `max_depth` steps, with the origins of the root’s ' +
    'quantity. The root must be in your divisions (else 404). Nodes none of whose parties is in your divisions stay ' +
    'in the graph with their quantity, material, time and the parties’ divisions, but the parties are replaced by ' +
    '`{ "redacted": true, "label": "another district" }` and the trade id and amount by null. The audit entry lists ' +
    'the parties shown and the node ids.',
  security: [{ bearer: [] }],
  middleware: [requireRole(...ROLES_FOR.readRecords)] as const,
  request: { params: tradeIdParam, query: chainQuery },
  responses: {
    200: {
      description: 'The chain',
      content: {
        'application/json': {
          schema: chainSchema,
          example: {
            root: '42',
            nodes: [
              {
                id: '42',
                platform: 'jmrr',
                trade_id: 'T-1001',
                redacted: false,
                seller: {
                  redacted: false,
                  key: '91440703MA4UJ2KX0K',
                  kind: 'enterprise',
                  name: '蓬江绿源再生资源回收站',
                  division: '440703',
                },
                buyer: {
                  redacted: false,
                  key: '91440705MA51R3QK29',
                  kind: 'enterprise',
                  name: '新会钢铁有限公司',
                  division: '440705',
                },
                material: 'FE_HEAVY',
                quantity_kg: '2000.000',
                amount: '4400.00',
                occurred_at: '2026-10-04T10:00:00+08:00',
                depth: 0,
                side: 'root',
                status: 'active',
              },
              {
                id: '17',
                platform: 'jmrr',
                trade_id: null,
                redacted: true,
                seller: { redacted: true, label: REDACTED_LABEL, division: '440781' },
                buyer: { redacted: true, label: REDACTED_LABEL, division: '440781' },
                material: 'FE_HEAVY',
                quantity_kg: '2000.000',
                amount: null,
                occurred_at: '2026-10-03T10:00:00+08:00',
                depth: 1,
                side: 'upstream',
                status: 'active',
              },
            ],
            edges: [{ from: '17', to: '42', quantity_kg: '2000.000', basis: 'fifo' }],
            origins: { natural_person_kg: '1600.000', enterprise_kg: '0.000', unsourced_kg: '400.000' },
            truncated: false,
          },
        },
      },
    },
    ...readErrors(),
    ...notFoundError('No such trade in your divisions'),
  },
});

const visible = (p: ChainParty) => ({
  redacted: false as const,
  key: p.key,
  kind: p.kind === 'natural_person' ? ('natural_person' as const) : ('enterprise' as const),
  name: p.name,
  division: p.division,
});
const hidden = (p: ChainParty) => ({ redacted: true as const, label: REDACTED_LABEL, division: p.division });

/** A node as this officer may see it: whole when one of its parties is in scope, else redacted. */
export function presentNode(n: ChainNode, scope: OfficerScope): NodeWire {
  const shown = canSee(scope, n.seller.division) || canSee(scope, n.buyer.division);
  return {
    id: n.id,
    platform: n.platform,
    trade_id: shown ? n.trade_id : null,
    redacted: !shown,
    seller: shown ? visible(n.seller) : hidden(n.seller),
    buyer: shown ? visible(n.buyer) : hidden(n.buyer),
    material: n.material,
    quantity_kg: n.quantity_kg,
    amount: shown ? n.amount : null,
    occurred_at: shanghaiTime(new Date(n.occurred_at)),
    depth: n.depth,
    side: n.side,
    status: n.status === 'cancelled' ? 'cancelled' : 'active',
  };
}

export function registerGetTradeChain(app: App, deps: QueryRouteDeps): void {
  app.openapi(getTradeChainRoute, async (c) => {
    const { id } = c.req.valid('param');
    const q = c.req.valid('query');
    const scope = officerScope(c.get('officer')!);
    const key = parseTradeKey(id);
    const where = key ? await findTradeDivisions(deps.db, key) : null;
    if (!where || !(canSee(scope, where.seller_division) || canSee(scope, where.buyer_division))) {
      throw new ProblemError('not_found', `No trade ${JSON.stringify(auditText(id))} in your divisions.`);
    }
    const ref = { platform: where.platform, trade_id: where.trade_id };
    const chain = await buildChain(deps.db, ref, {
      direction: q.direction ?? 'both',
      maxDepth: q.max_depth === undefined ? DEFAULT_DEPTH : Number(q.max_depth),
    });
    const nodes = chain.nodes.map((n) => presentNode(n, scope));
    const parties: string[] = [];
    for (const n of nodes) {
      if (!n.seller.redacted) parties.push(n.seller.key);
      if (!n.buyer.redacted) parties.push(n.buyer.key);
    }
    // Every node id is in the response (redacted ones too); only unredacted parties are disclosed.
    addAuditSubjects(c, { parties, trades: nodes.map((n) => n.id) });
    const body: ChainWire = { ...chain, nodes };
    return c.json(body, 200);
  });
}
