/**
 * The closed list of problem types (RFC 9457). Every error the API returns is one of these;
 * `type` is a URI reference relative to the API's base URL.
 */
export const PROBLEM_TYPES = {
  validation: { status: 400, title: 'The request is not valid' },
  malformed: { status: 400, title: 'The request body is not well-formed' },
  unauthorized: { status: 401, title: 'Authentication failed' },
  forbidden: { status: 403, title: 'Not allowed' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  conflict: { status: 409, title: 'Conflicting record' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  rate_limited: { status: 429, title: 'Too many requests' },
  internal: { status: 500, title: 'Internal error' },
  unavailable: { status: 503, title: 'Service unavailable' },
} as const;

export type ProblemCode = keyof typeof PROBLEM_TYPES;

export interface FieldError {
  pointer: string;
  message: string;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: FieldError[];
  [extra: string]: unknown;
}

export class ProblemError extends Error {
  constructor(
    readonly code: ProblemCode,
    readonly detail?: string,
    readonly extra: { errors?: FieldError[]; retryAfterSeconds?: number; [k: string]: unknown } = {},
  ) {
    super(detail ?? PROBLEM_TYPES[code].title);
    this.name = 'ProblemError';
  }

  get status(): number {
    return PROBLEM_TYPES[this.code].status;
  }

  toBody(): ProblemBody {
    const { retryAfterSeconds: _ignored, ...rest } = this.extra;
    return problemBody(this.code, this.detail, rest);
  }
}

export function problemBody(
  code: ProblemCode,
  detail?: string,
  extra: Record<string, unknown> = {},
): ProblemBody {
  const t = PROBLEM_TYPES[code];
  return {
    type: `/problems/${code.replaceAll('_', '-')}`,
    title: t.title,
    status: t.status,
    ...(detail ? { detail } : {}),
    ...extra,
  };
}

/** Converts a zod error to field errors whose pointers are relative to `base` ('' = the body). */
export function zodIssuesToFieldErrors(
  issues: readonly { path: readonly PropertyKey[]; message: string }[],
  base = '',
): FieldError[] {
  return issues.map((i) => ({
    pointer: base + i.path.map((p) => `/${String(p).replaceAll('~', '~0').replaceAll('/', '~1')}`).join(''),
    message: i.message,
  }));
}
