import type { ResponseObject, SchemaObject } from '@nestjs/swagger';
import { ApiErrorCode, ERROR_CATALOGUE } from '../http/error-catalogue';

/** What an example answer of each code says; a Record, so a code added to the catalogue cannot go without one. */
const EXAMPLE_MESSAGES: Readonly<Record<ApiErrorCode, string>> = {
  VALIDATION_FAILED: 'quantity must not be less than 1',
  UNAUTHENTICATED: 'a bearer token is required',
  FORBIDDEN: 'this route needs the role admin',
  BLOCKED: 'this account is blocked from purchases',
  NOT_FOUND: 'sale 6f1c… not found',
  SALE_NOT_STARTED: 'sale 6f1c… has not started',
  SALE_ENDED: 'sale 6f1c… has ended',
  INVALID_PURCHASE_TOKEN: 'the purchase token is invalid or expired',
  CHALLENGE_FAILED: 'the proof-of-work answer is wrong',
  SOLD_OUT: 'sale 6f1c… is sold out',
  LIMIT_EXCEEDED: 'the per-user limit of this sale is reached',
  IDEMPOTENCY_KEY_REUSED: 'this Idempotency-Key was used with another body',
  ORDER_NOT_PAYABLE: 'order 0b7e… is expired and cannot be paid',
  PAYMENT_ID_REUSED: 'payment pay-1 already paid another order',
  ORDER_NOT_CANCELLABLE: 'order 0b7e… is paid and cannot be cancelled',
  RATE_LIMITED: 'too many requests; retry later',
  OVERLOADED: 'the server is overloaded; retry later',
  DEGRADED: 'the sale is degraded; retry later',
  NOT_READY: 'the service is catching up with the event log',
  PAYLOAD_TOO_LARGE: 'the body is over the limit',
  REQUEST_TIMEOUT: 'the request did not arrive in time',
  QUERY_TIMEOUT: 'the pipeline ran past its time limit',
  QUERY_TOO_LARGE: 'the answer is over its size limit',
  INTERNAL: 'internal error',
};

const EXAMPLE_RETRY_AFTER_MS = 1000;

/** The one error envelope of API.md "Errors", as a component every error response refers to. */
export const ERROR_ENVELOPE_SCHEMA: SchemaObject = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'retryable'],
      properties: {
        code: { type: 'string', enum: Object.keys(ERROR_CATALOGUE) },
        message: { type: 'string' },
        retryable: { type: 'boolean' },
        retryAfterMs: { type: 'integer', minimum: 0, description: 'with 429 and 503 (also sent as Retry-After, in seconds)' },
        details: { description: 'what a validation found, when there is more than the message' },
      },
    },
  },
};

export const ERROR_ENVELOPE = 'ErrorEnvelope';

const envelopeOf = (code: ApiErrorCode) => {
  const { retryable } = ERROR_CATALOGUE[code];
  return { error: { code, message: EXAMPLE_MESSAGES[code], retryable, ...(retryable ? { retryAfterMs: EXAMPLE_RETRY_AFTER_MS } : {}) } };
};

/**
 * The error responses of a route that can answer `codes`: one per HTTP status (several codes share 403, 409, 503),
 * its description naming the codes and the `x-error-codes` extension listing them for tools, one example per code.
 */
export type ErrorResponse = ResponseObject & { 'x-error-codes': ApiErrorCode[]; 'x-retryable': boolean };

export const errorResponses = (codes: readonly ApiErrorCode[]): Record<string, ErrorResponse> => {
  const byStatus = new Map<number, ApiErrorCode[]>();
  for (const code of codes) {
    const { status } = ERROR_CATALOGUE[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const responses: Record<string, ErrorResponse> = {};
  for (const [status, shared] of [...byStatus].sort(([a], [b]) => a - b)) {
    const retryable = shared.some((code) => ERROR_CATALOGUE[code].retryable);
    const response: ErrorResponse = {
      description: shared.join(' · '),
      ...(status === 429 || status === 503 ? { headers: { 'Retry-After': { description: 'seconds to wait', schema: { type: 'integer' } } } } : {}),
      content: {
        'application/json': {
          schema: { $ref: `#/components/schemas/${ERROR_ENVELOPE}` },
          examples: Object.fromEntries(shared.map((code) => [code, { summary: `${code}${ERROR_CATALOGUE[code].retryable ? ' (retryable)' : ''}`, value: envelopeOf(code) }])),
        },
      },
      'x-error-codes': shared,
      'x-retryable': retryable,
    };
    responses[String(status)] = response;
  }
  return responses;
};
