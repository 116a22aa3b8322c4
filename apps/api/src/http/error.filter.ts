import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Inject } from '@nestjs/common';
import { DomainError, RetryLater, SaleNotStarted } from '@flash/domain';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Logger, LOGGER } from '@flash/runtime';
import { ApiError, ApiErrorCode, ERROR_CATALOGUE } from './error-catalogue';

export interface Envelope {
  readonly status: number;
  readonly body: { error: { code: ApiErrorCode; message: string; retryable: boolean; retryAfterMs?: number; details?: unknown } };
}

const byStatus: Readonly<Record<number, ApiErrorCode>> = {
  400: 'VALIDATION_FAILED',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'NOT_FOUND',
  408: 'REQUEST_TIMEOUT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'VALIDATION_FAILED',
  429: 'RATE_LIMITED',
  503: 'OVERLOADED',
};

/**
 * What the framework refuses is described in words of our own: Fastify's and Nest's messages quote the URL or a header
 * back (`'/orders/%ff' is not a valid url component`, `Cannot GET /…`), and an answer never echoes its request.
 */
const FRAMEWORK_MESSAGES: Readonly<Record<string, string>> = {
  FST_ERR_BAD_URL: 'the URL is not validly percent-encoded',
  FST_ERR_MAX_PARAM_LENGTH: 'a path segment is longer than 100 characters',
  FST_ERR_CTP_BODY_TOO_LARGE: 'the request body is too large',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'the request body does not match its Content-Length',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'the request body has an unsupported media type',
};

/** For a framework refusal named by its status alone (every code byStatus maps to). */
const GENERIC_MESSAGES: Readonly<Partial<Record<ApiErrorCode, string>>> = {
  VALIDATION_FAILED: 'bad request',
  UNAUTHENTICATED: 'authentication is required',
  FORBIDDEN: 'not allowed',
  NOT_FOUND: 'no such resource or route',
  PAYLOAD_TOO_LARGE: 'the request is too large',
  REQUEST_TIMEOUT: 'the request did not arrive in time',
  RATE_LIMITED: 'too many requests',
  OVERLOADED: 'the server is busy; retry',
};

const frameworkMessage = (code: ApiErrorCode, frameworkCode?: string): string =>
  (frameworkCode === undefined ? undefined : FRAMEWORK_MESSAGES[frameworkCode]) ?? GENERIC_MESSAGES[code] ?? 'bad request';

const envelope = (code: ApiErrorCode, message: string, extra: { retryAfterMs?: number; details?: unknown } = {}): Envelope => {
  const { status, retryable } = ERROR_CATALOGUE[code];
  return {
    status,
    body: {
      error: {
        code,
        message,
        retryable,
        ...(extra.retryAfterMs === undefined ? {} : { retryAfterMs: extra.retryAfterMs }),
        ...(extra.details === undefined ? {} : { details: extra.details }),
      },
    },
  };
};

/** Maps anything thrown — domain, HTTP layer, Nest, Fastify — to the one error envelope of API.md. */
export const toEnvelope = (error: unknown): Envelope => {
  if (error instanceof ApiError) return envelope(error.code, error.message, error.extra);
  if (error instanceof DomainError) {
    return envelope(error.code, error.message, error instanceof SaleNotStarted || error instanceof RetryLater ? { retryAfterMs: error.retryAfterMs } : {});
  }
  if (error instanceof HttpException) {
    const code = byStatus[error.getStatus()] ?? 'INTERNAL';
    return envelope(code, code === 'INTERNAL' ? 'internal error' : frameworkMessage(code));
  }
  const fastifyError = error as { statusCode?: number; code?: string };
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode < 500) {
    const code = fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'PAYLOAD_TOO_LARGE' : (byStatus[fastifyError.statusCode] ?? 'VALIDATION_FAILED');
    return envelope(code, frameworkMessage(code, fastifyError.code));
  }
  return envelope('INTERNAL', 'internal error');
};

/** The Retry-After header (whole seconds) a 429 or 503 envelope carries; undefined for every other status. */
export const retryAfterOf = ({ status, body }: Envelope): string | undefined =>
  status === 429 || status === 503 ? String(Math.max(1, Math.ceil((body.error.retryAfterMs ?? 1000) / 1000))) : undefined;

export const sendEnvelope = (reply: FastifyReply, envelope: Envelope): void => {
  const retryAfter = retryAfterOf(envelope);
  if (retryAfter !== undefined) reply.header('Retry-After', retryAfter);
  void reply.status(envelope.status).send(envelope.body);
};

/**
 * The envelope of an error a route let through, logging it when it is a bug (INTERNAL) rather than a refusal, under
 * the id of the request it broke (given here: no request context is kept, see README "Logs and request ids").
 */
export const envelopeOfUnhandled = (error: unknown, logger: Logger, requestId: string): Envelope => {
  const result = toEnvelope(error);
  if (result.status >= 500 && result.body.error.code === 'INTERNAL') logger.error({ err: error, requestId }, 'unhandled error');
  return result;
};

@Catch()
export class ErrorEnvelopeFilter implements ExceptionFilter {
  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    sendEnvelope(http.getResponse<FastifyReply>(), envelopeOfUnhandled(error, this.logger, http.getRequest<FastifyRequest>().id));
  }
}
