import { ErrorCode } from '@flash/domain';

/** The one table from error code to HTTP status and retryability (API.md "Errors"). */
export const ERROR_CATALOGUE: Readonly<Record<ErrorCode | 'NOT_READY' | 'QUERY_TIMEOUT' | 'QUERY_TOO_LARGE' | 'REQUEST_TIMEOUT', { status: number; retryable: boolean }>> = {
  VALIDATION_FAILED: { status: 400, retryable: false },
  UNAUTHENTICATED: { status: 401, retryable: false },
  FORBIDDEN: { status: 403, retryable: false },
  BLOCKED: { status: 403, retryable: false },
  NOT_FOUND: { status: 404, retryable: false },
  SALE_NOT_STARTED: { status: 403, retryable: true },
  SALE_ENDED: { status: 403, retryable: false },
  INVALID_PURCHASE_TOKEN: { status: 403, retryable: false },
  CHALLENGE_FAILED: { status: 403, retryable: false },
  SOLD_OUT: { status: 409, retryable: false },
  LIMIT_EXCEEDED: { status: 409, retryable: false },
  IDEMPOTENCY_KEY_REUSED: { status: 422, retryable: false },
  ORDER_NOT_PAYABLE: { status: 409, retryable: false },
  /** A paymentId already received for another order: it pays at most one (API.md "Payments"). */
  PAYMENT_ID_REUSED: { status: 409, retryable: false },
  ORDER_NOT_CANCELLABLE: { status: 409, retryable: false },
  RATE_LIMITED: { status: 429, retryable: true },
  OVERLOADED: { status: 503, retryable: true },
  DEGRADED: { status: 503, retryable: true },
  NOT_READY: { status: 503, retryable: true },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false },
  /** The request's headers and body did not all arrive within REQUEST_TIMEOUT_MS: the connection is closed after it. */
  REQUEST_TIMEOUT: { status: 408, retryable: true },
  /** An analyst's pipeline ran past ANALYTICS_MAX_TIME_MS: narrow it ($match first) rather than retry it. */
  QUERY_TIMEOUT: { status: 422, retryable: false },
  /** An analyst's answer over ANALYTICS_MAX_BYTES, or a pipeline needing more than its worker's memory: narrow it. */
  QUERY_TOO_LARGE: { status: 422, retryable: false },
  INTERNAL: { status: 500, retryable: true },
};

export type ApiErrorCode = keyof typeof ERROR_CATALOGUE;

/** An error raised by the HTTP layer itself (auth, headers, body shape), with a code of the catalogue. */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly extra: { retryAfterMs?: number; details?: unknown };

  constructor(code: ApiErrorCode, message: string, extra: { retryAfterMs?: number; details?: unknown } = {}) {
    // A refusal, not a fault: no stack trace to capture on the hot path (see DomainError).
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = stackTraceLimit;
    this.name = 'ApiError';
    this.code = code;
    this.extra = extra;
  }
}
