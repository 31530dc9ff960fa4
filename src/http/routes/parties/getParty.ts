import { createRoute, z } from '@hono/zod-openapi';
import type { Db } from '../../../db/database';
import { findParty, partyTradeStats } from '../../../repositories/parties-query.repository';
import { PiiVault } from '../../../security/pii';
import type { App } from '../../app';
import {
  addAuditSubjects,
  canSee,
  type OfficerScope,
  officerScope,
  piiPresenter,
  ROLES_FOR,
  requireRole,
} from '../../auth';
import { ProblemError } from '../../problems';
import {
  isPartyKey,
  notFoundError,
  type QueryRouteDeps,
  readErrors,
  shanghaiTime,
  timeString,
} from '../query-wire';

export const partyKeyPathParam = z.object({
  key: z.string().openapi({
    param: { name: 'key', in: 'path' },
    description:
      'A USCC (enterprises) or a person key `np_…` as handed out by this API (natural persons). Anything else — ' +
      'a raw id number included — answers 404',
    example: '91440703MA4UJ2KX0K',
  }),
});

const partySchema = z
  .object({
    key: z.string().openapi({ example: '91440703MA4UJ2KX0K' }),
    kind: z.enum(['enterprise', 'natural_person']),
    name: z.string().openapi({ example: '蓬江绿源再生资源回收站' }),
    division: z.string().openapi({
      description:
        'The division the party belongs to (enterprise: registered division, else positions 3–8 of the USCC; natural ' +
        'person: the address code of the id number). Decides who may see it',
      example: '440703',
    }),
    first_seen_at: timeString('When Retrace first saw the party'),
    enterprise: z
      .object({
        uscc: z.string().openapi({ example: '91440703MA4UJ2KX0K' }),
        registered: z.boolean().openapi({ description: 'Master data received (`party.registered`)' }),
        registered_division: z.string().nullable(),
        taxpayer_kind: z.enum(['general', 'small_scale']).nullable(),
        established_on: z
          .string()
          .nullable()
          .openapi({ description: 'Date (YYYY-MM-DD)', example: '2019-06-18' }),
        recycling_filing_no: z
          .string()
          .nullable()
          .openapi({ description: '再生资源回收经营备案号', example: 'JM-2019-0031' }),
        roles: z.array(z.string()).openapi({ example: ['recycler'] }),
      })
      .nullable()
      .openapi({ description: 'Set for enterprises; master data fields are null until registered' }),
    natural_person: z
      .object({
        id_number: z.string().openapi({
          description:
            'Resident id number, masked (`440703********123X`) unless the token has `pii` access — then in clear, and ' +
            'the audit entry records the unmasking',
          example: '440703********123X',
        }),
      })
      .nullable()
      .openapi({ description: 'Set for natural persons' }),
    trades: z
      .object({
        as_seller: z.number().int().openapi({ description: 'Active trades where the party sells' }),
        as_buyer: z.number().int().openapi({ description: 'Active trades where the party buys' }),
        cancelled: z.number().int().openapi({ description: 'Cancelled trades of the party' }),
        first_trade_at: timeString('First active trade').nullable(),
        last_trade_at: timeString('Latest active trade').nullable(),
      })
      .openapi({ description: 'Counted over every platform' }),
  })
  .openapi('Party');

type PartyWire = z.infer<typeof partySchema>;

export const getPartyRoute = createRoute({
  operationId: 'getParty',
  method: 'get',
  path: '/v1/parties/{key}',
  tags: ['parties'],
  summary: 'A party’s profile',
  description:
    'An enterprise (USCC, name, division, registered master data: roles, taxpayer kind, date of establishment, ' +
    'recycling filing number) or a natural person (person key, name, division, id number masked unless `pii`), with ' +
    'the counts of its trades and the times of its first and last trade. A party outside your divisions answers ' +
    '404, like an unknown one.',
  security: [{ bearer: [] }],
  middleware: [requireRole(...ROLES_FOR.readRecords)] as const,
  request: { params: partyKeyPathParam },
  responses: {
    200: {
      description: 'The party',
      content: {
        'application/json': {
          schema: partySchema,
          example: {
            key: '91440703MA4UJ2KX0K',
            kind: 'enterprise',
            name: '蓬江绿源再生资源回收站',
            division: '440703',
            first_seen_at: '2026-09-01T10:00:00+08:00',
            enterprise: {
              uscc: '91440703MA4UJ2KX0K',
              registered: true,
              registered_division: '440703',
              taxpayer_kind: 'general',
              established_on: '2019-06-18',
              recycling_filing_no: 'JM-2019-0031',
              roles: ['recycler'],
            },
            natural_person: null,
            trades: {
              as_seller: 41,
              as_buyer: 1288,
              cancelled: 3,
              first_trade_at: '2026-09-01T10:00:00+08:00',
              last_trade_at: '2026-10-31T17:42:00+08:00',
            },
          },
        },
      },
    },
    ...readErrors(),
    ...notFoundError('No such party in your divisions (or the key is not a USCC or a person key)'),
  },
});

export function registerGetParty(app: App, deps: QueryRouteDeps): void {
  const vault = new PiiVault(deps.keyring);
  app.openapi(getPartyRoute, async (c) => {
    const { key } = c.req.valid('param');
    const p = await findVisibleParty(deps.db, officerScope(c.get('officer')!), key);
    const stats = await partyTradeStats(deps.db, p.party_key);
    const pii = piiPresenter(c, vault);
    const body: PartyWire = {
      key: p.party_key,
      kind: p.kind === 'natural_person' ? 'natural_person' : 'enterprise',
      name: p.name,
      division: p.division,
      first_seen_at: shanghaiTime(p.first_seen_at),
      enterprise:
        p.kind === 'natural_person'
          ? null
          : {
              uscc: p.party_key,
              registered: p.registered,
              registered_division: p.registered_division,
              taxpayer_kind: (p.taxpayer_kind as 'general' | 'small_scale' | null) ?? null,
              established_on: p.established_on,
              recycling_filing_no: p.recycling_filing_no,
              roles: p.roles,
            },
      natural_person:
        p.kind === 'natural_person' ? { id_number: pii.sealedIdNumber(p.id_number_enc) ?? '' } : null,
      trades: {
        as_seller: stats.as_seller,
        as_buyer: stats.as_buyer,
        cancelled: stats.cancelled,
        first_trade_at: stats.first_trade_at ? shanghaiTime(stats.first_trade_at) : null,
        last_trade_at: stats.last_trade_at ? shanghaiTime(stats.last_trade_at) : null,
      },
    };
    addAuditSubjects(c, { parties: [p.party_key] });
    return c.json(body, 200);
  });
}

/**
 * The party of a path key, when the officer's divisions include it; anything else — unknown, out
 * of scope, or not a key we hand out (a raw id number is never looked up) — is a 404, never a 403.
 */
export async function findVisibleParty(db: Db, scope: OfficerScope, key: string) {
  const p = isPartyKey(key) ? await findParty(db, key) : null;
  if (!p || !canSee(scope, p.division)) {
    throw new ProblemError('not_found', 'No such party in your divisions.');
  }
  return p;
}
