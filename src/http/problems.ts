import { z } from '@hono/zod-openapi';

export * from '../errors';

export const fieldErrorSchema = z
  .object({
    pointer: z.string().openapi({ example: '/data/lines/0/quantity' }),
    message: z.string().openapi({ example: 'must be a decimal string, not a JSON number' }),
  })
  .openapi('FieldError');

export const problemSchema = z
  .object({
    type: z.string().openapi({ example: '/problems/validation' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    errors: z.array(fieldErrorSchema).optional(),
  })
  .openapi('Problem', { description: 'RFC 9457 problem details' });

export const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: problemSchema } },
});

export const retryAfterHeader = {
  'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer' as const } },
};
