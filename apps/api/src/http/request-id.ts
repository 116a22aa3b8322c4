import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

export const REQUEST_ID_HEADER = 'x-request-id';

/**
 * What an X-Request-Id the client (or a proxy in front) sends must look like to be kept: up to 128 characters of a
 * token-like alphabet (UUIDs, hex and base64 trace ids, `Root=1-…` fit). Anything else — a line break that would
 * forge a log line, quotes, spaces, a header sent twice (Node joins them with ", "), a huge value — is replaced by a
 * new id rather than cleaned: an id the client cannot find again is worse than one it did not choose.
 */
const ACCEPTED_REQUEST_ID = /^[A-Za-z0-9._~:=+/-]{1,128}$/;

/** The id of a request: the client's X-Request-Id when it is acceptable, else a new UUID. */
export const requestIdOf = (headers: IncomingHttpHeaders): string => {
  const sent = headers[REQUEST_ID_HEADER];
  return typeof sent === 'string' && ACCEPTED_REQUEST_ID.test(sent) ? sent : randomUUID();
};

/**
 * A Nest route's request id (Fastify's `request.id`, made by requestIdOf in bootstrap.ts's genReqId), for the
 * controller to hand on explicitly: to its command, which puts it in its events' metadata as their correlationId.
 * Passed by hand rather than kept in an AsyncLocalStorage: see README, "Logs and request ids".
 */
export const RequestId = createParamDecorator((_: unknown, ctx: ExecutionContext): string => ctx.switchToHttp().getRequest<FastifyRequest>().id);

/** The correlation of the events a request's command appends: its id, to go from an event to the request's log lines. */
export const correlatedWith = (requestId: string | undefined): { readonly correlationId?: string } =>
  requestId === undefined ? {} : { correlationId: requestId };
