import { ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { Envelope, retryAfterOf } from './error.filter';
import { REQUEST_ID_HEADER, requestIdOf } from './request-id';
import { securityHeaders } from './security-headers';

/**
 * Answers written below Fastify's reply — by a route of its own plumbing (the reservation pipeline, on both its ways
 * in), by the HTTP edge (refusals before routing, what Node's parser gives up on) — carry what Fastify's hooks give every
 * other answer: the security headers, the request id, the JSON media type, an exact length, and Retry-After on
 * 429/503. The one place those headers are put together.
 */
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

export interface AnswerOptions {
  /** X-Request-Id: the request's id (request-id.ts). */
  readonly requestId: string;
  /** Whole seconds, for 429 and 503 (see retryAfterOf). */
  readonly retryAfter?: string | undefined;
  /** Tell the client the connection ends after this answer (Node then closes it once the answer is written). */
  readonly close?: boolean;
}

export const answerHeaders = (payload: string, { requestId, retryAfter, close = false }: AnswerOptions): Record<string, string> => ({
  ...securityHeaders(),
  [REQUEST_ID_HEADER]: requestId,
  'content-type': JSON_CONTENT_TYPE,
  'content-length': String(Buffer.byteLength(payload)),
  ...(retryAfter === undefined ? {} : { 'retry-after': retryAfter }),
  ...(close ? { connection: 'close' } : {}),
});

/** An error envelope on Node's response object, under the id its request asked for; `close` ends the connection after it. */
export const writeEnvelope = (res: ServerResponse, envelope: Envelope, close = false): void => {
  const payload = JSON.stringify(envelope.body);
  res.writeHead(envelope.status, answerHeaders(payload, { requestId: requestIdOf(res.req.headers), retryAfter: retryAfterOf(envelope), close }));
  res.end(payload);
};

/**
 * An error envelope written straight onto a socket that has no response object to write it with (Node's parser gave
 * up on the request, or it did not arrive in time); the caller destroys the socket after it, as Node itself does.
 */
export const writeEnvelopeToSocket = (socket: Socket, envelope: Envelope): void => {
  const payload = JSON.stringify(envelope.body);
  // Its request could not be read, so neither could an X-Request-Id: the answer gets an id of its own.
  const headers = { date: new Date().toUTCString(), ...answerHeaders(payload, { requestId: randomUUID(), retryAfter: retryAfterOf(envelope), close: true }) };
  const head = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.write(`HTTP/1.1 ${envelope.status} ${STATUS_CODES[envelope.status] ?? ''}\r\n${head}\r\n${payload}`);
};
