import type { IncomingHttpHeaders } from 'node:http';
import { ExecutionContext } from '@nestjs/common';
import type { AccessRefusalCode, KnownIdempotencyKeys, PurchaseStep, Refused } from '@flash/access';
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../auth/jwt.service';
import { ApiError } from '../http/error-catalogue';

/**
 * What the access checks read of a request: Fastify's request satisfies it, and so does the reservation fast
 * path's (reservation.fast-path.ts), which runs before Fastify. Authentication puts the principal on it.
 */
export interface PurchaseRequest {
  /** The request id (http/request-id.ts): Fastify's `request.id` is made by the same function. */
  readonly id: string;
  readonly ip: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly params: unknown;
  principal?: Principal;
}

/** The request as the guards see it: AuthGuard has put the principal on it. */
export type AccessRequest = FastifyRequest & { principal?: Principal };

export const accessRequest = (context: ExecutionContext): AccessRequest => context.switchToHttp().getRequest<AccessRequest>();

/**
 * Health checks, operators' routes and the API document: never shed (they are how an overload is seen and handled),
 * never a hot spot (they are not the crowd).
 */
const OPERATOR_PREFIXES = ['/health/', '/metrics', '/admin/', '/docs'];

export const isOperatorUrl = (url: string): boolean => OPERATOR_PREFIXES.some((prefix) => url.startsWith(prefix));

export const saleIdOf = (request: Pick<PurchaseRequest, 'params'>): string | undefined => {
  const { id } = request.params as { id?: unknown };
  return typeof id === 'string' ? id : undefined;
};

export const refusal = (verdict: Refused<AccessRefusalCode>): ApiError =>
  new ApiError(verdict.code, verdict.reason, verdict.retryAfterMs === undefined ? {} : { retryAfterMs: verdict.retryAfterMs });

/**
 * A reservation whose Idempotency-Key is already known is a replay, answered by the handler before rate limits
 * (API.md): asked only on the way to a refusal, so the common path pays nothing for it.
 */
export const isKnownReplay = async (request: PurchaseRequest, step: PurchaseStep, keys: KnownIdempotencyKeys): Promise<boolean> => {
  if (step !== 'reservation') return false;
  const idempotencyKey = request.headers['idempotency-key'];
  const saleId = saleIdOf(request);
  const userId = request.principal?.userId;
  if (typeof idempotencyKey !== 'string' || saleId === undefined || userId === undefined) return false;
  return keys.has(saleId, userId, idempotencyKey);
};
