import { z } from '@hono/zod-openapi';
import type { Db } from '../../db/database';
import { isValidUscc } from '../../domain/ids';
import { isRecordTime } from '../../domain/time';
import type { Keyring } from '../../security/keys';
import { isPersonKey } from '../../security/pii';
import { problemResponse as problemDoc, retryAfterHeader } from '../problems';

/**
 * Pieces shared by the officers' query routes (trades, parties): dependencies, wire formats and
 * the error responses every operation declares.
 */

export interface QueryRouteDeps {
  db: Db;
  /** PII decryption (id numbers, account numbers) goes through a PiiVault built from it. */
  keyring: Keyring;
}

export { shanghaiTime } from '../../domain/time';

/** A party key the API hands out: a USCC (enterprises) or a person key `np_…` (natural persons). */
export function isPartyKey(s: string): boolean {
  return isPersonKey(s) || isValidUscc(s);
}

export const partyKeyParam = (description: string) =>
  z
    .string()
    .refine(
      isPartyKey,
      'must be a USCC (18 characters) or a person key (np_…); raw id numbers are never accepted',
    )
    .openapi({ description, example: '91440703MA4UJ2KX0K' });

export const partyRefSchema = z
  .object({
    key: z.string().openapi({
      description: 'USCC for an enterprise; person key (`np_` + 32 characters) for a natural person',
      example: '91440703MA4UJ2KX0K',
    }),
    kind: z.enum(['enterprise', 'natural_person']),
    name: z.string().openapi({ example: '蓬江绿源再生资源回收站' }),
    division: z.string().openapi({ description: '6-digit division code (行政区划代码)', example: '440703' }),
  })
  .openapi('PartyRef');

export type PartyRef = z.infer<typeof partyRefSchema>;

export function partyRef(
  key: string,
  kind: string | null | undefined,
  name: string | null | undefined,
  division: string,
): PartyRef {
  return {
    key,
    kind: kind === 'natural_person' ? 'natural_person' : 'enterprise',
    name: name ?? '',
    division,
  };
}

export const FLOW_STATUSES = ['matched', 'partial', 'missing', 'mismatch'] as const;
export const OVERALL_STATUSES = ['reconciled', 'pending', 'discrepant'] as const;

export const moneyString = (description: string, example = '27159.00') =>
  z.string().openapi({ description: `${description} (CNY, decimal string)`, example });
export const kgString = (description: string, example = '12345.000') =>
  z.string().openapi({ description: `${description} (kg, decimal string, 3 decimals)`, example });
export const timeString = (description: string, example = '2026-10-02T08:15:00+08:00') =>
  z.string().openapi({ description: `${description} (RFC 3339, Asia/Shanghai offset)`, example });

/** The error responses of every read operation of the query API (404 apart: lists never answer it). */
export const readErrors = () => ({
  400: problemDoc('Invalid parameter; `errors[].pointer` names it, e.g. `/query/limit`'),
  401: problemDoc('Missing, unknown, revoked or disabled bearer token'),
  403: problemDoc('The token’s role may not read trade and party data (auditor, admin)'),
  429: { ...problemDoc('Too many failed authentication attempts'), headers: retryAfterHeader },
  503: {
    ...problemDoc('Storage unavailable, or the request could not be audited'),
    headers: retryAfterHeader,
  },
});

/** 404 of a single resource: unknown and out of scope answer alike (no existence oracle). */
export const notFoundError = (description: string) => ({ 404: problemDoc(description) });

const RFC3339_MESSAGE = 'must be an RFC 3339 date-time with a UTC offset, e.g. "2026-10-02T08:15:00+08:00"';
const rfc3339 = z.iso.datetime({ offset: true });

/**
 * A time query parameter (`from`, `to`): RFC 3339 with a UTC offset, in the years 1900–2999 (the
 * times a record may carry, src/domain/time.ts). An unencoded `+` in a query string stands for a
 * space (form encoding), and curl sends `?from=2026-10-05T00:00:00+08:00` as typed: an offset
 * whose sign arrived as a space is read as the `+` it was (a space can stand nowhere else there).
 */
export const instantParam = (description: string, example: string) =>
  z
    .string()
    .overwrite((v) =>
      v.replace(/^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:\d{2})$/, '$1+$2'),
    )
    .refine((v) => rfc3339.safeParse(v).success, { message: RFC3339_MESSAGE, abort: true })
    .refine((v) => isRecordTime(Date.parse(v)), 'must fall in the years 1900–2999 (Asia/Shanghai)')
    .optional()
    .openapi({ description, example, format: 'date-time' });
