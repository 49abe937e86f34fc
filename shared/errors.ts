/**
 * The one error type. `type` is the API.md error type; the error middleware maps it to a status
 * with an exhaustive switch, so adding a type without a status fails to compile.
 */
export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'invalid_api_key'
  | 'permission_error'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'request_timeout'
  | 'headers_too_large'
  | 'child_key_limit'
  | 'insufficient_balance'
  | 'rate_limit_exceeded'
  | 'upstream_error'
  | 'upstream_unavailable'
  | 'service_unavailable'
  | 'internal_error';

/** API.md's `code` of a 401 invalid_api_key (refusals.ts builds them). */
export type InvalidKeyCode = 'key_unknown' | 'key_disabled' | 'key_expired' | 'key_revoked';

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly type: ErrorType,
    message: string,
    /** Extra envelope fields (`param`, `code`, `daily_remaining`, …), already in their JSON form. */
    readonly extra: Record<string, unknown> = {},
    /** Response headers that belong to this error (`Retry-After`). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  static invalid(param: string, message: string): ApiError {
    return new ApiError('invalid_request_error', message, { param });
  }

  static notFound(what: string): ApiError {
    return new ApiError('not_found', `${what} not found`);
  }

  /** Redis or Postgres cannot be reached: a 503 the client may retry in a moment, not a 500. */
  static unavailable(): ApiError {
    return new ApiError(
      'service_unavailable',
      'The service is briefly unavailable; retry in a few seconds',
      {},
      { 'retry-after': '2' },
    );
  }
}

export function statusOf(type: ErrorType): number {
  switch (type) {
    case 'invalid_request_error':
      return 400;
    case 'authentication_error':
    case 'invalid_api_key':
      return 401;
    case 'child_key_limit':
    case 'insufficient_balance':
      return 402;
    case 'permission_error':
      return 403;
    case 'not_found':
      return 404;
    case 'conflict':
      return 409;
    case 'payload_too_large':
      return 413;
    case 'request_timeout':
      return 408;
    case 'headers_too_large':
      return 431;
    case 'rate_limit_exceeded':
      return 429;
    case 'internal_error':
      return 500;
    case 'upstream_error':
      return 502;
    case 'upstream_unavailable':
    case 'service_unavailable':
      return 503;
  }
}

export function errorBody(err: ApiError): { error: Record<string, unknown> } {
  return { error: { type: err.type, message: err.message, ...err.extra } };
}
