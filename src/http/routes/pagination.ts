import { z } from '@hono/zod-openapi';

/** Cursor pagination (CONTRACT.md conventions): `?limit=` default 50, at most 500. */
export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 500;

/** The `limit` query parameter: a whole number from 1 to MAX_LIMIT (a string on the wire). */
export const limitParam = () =>
  z
    .string()
    .regex(/^[1-9]\d{0,2}$/, `must be a whole number from 1 to ${MAX_LIMIT}`)
    .refine((v) => Number(v) <= MAX_LIMIT, `must be a whole number from 1 to ${MAX_LIMIT}`)
    .optional()
    .openapi({
      type: 'integer',
      minimum: 1,
      maximum: MAX_LIMIT,
      default: DEFAULT_LIMIT,
      description: `Page size (default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT})`,
    });

/** The `cursor` query parameter, checked by the endpoint's own decoder. */
export const cursorParam = (decode: (cursor: string) => unknown, example: string) =>
  z
    .string()
    .refine((v) => decode(v) !== null, 'is not a cursor returned by this endpoint')
    .optional()
    .openapi({ description: '`next_cursor` of the previous page', example });

export const pageLimit = (limit: string | undefined): number => (limit ? Number(limit) : DEFAULT_LIMIT);
