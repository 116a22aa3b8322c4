import { ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { Envelope, retryAfterOf } from './error.filter';
import { securityHeaders } from './security-headers';

/**
 * Answers written below Fastify's reply — by a route of its own plumbing (the reservation pipeline, on both its ways
 * in), by the HTTP edge (refusals before routing, what Node's parser gives up on) — carry what Fastify's hooks give every other answer: the security headers, the
 * JSON media type, an exact length, and Retry-After on 429/503. The one place those headers are put together.
 */
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

export interface AnswerOptions {
  /** Whole seconds, for 429 and 503 (see retryAfterOf). */
  readonly retryAfter?: string | undefined;
  /** Tell the client the connection ends after this answer (Node then closes it once the answer is written). */
  readonly close?: boolean;
}

export const answerHeaders = (payload: string, { retryAfter, close = false }: AnswerOptions = {}): Record<string, string> => ({
  ...securityHeaders(),
  'content-type': JSON_CONTENT_TYPE,
  'content-length': String(Buffer.byteLength(payload)),
  ...(retryAfter === undefined ? {} : { 'retry-after': retryAfter }),
  ...(close ? { connection: 'close' } : {}),
});

/** A JSON answer on Node's response object. */
export const writeJson = (res: ServerResponse, status: number, payload: string, options: AnswerOptions = {}): void => {
  res.writeHead(status, answerHeaders(payload, options));
  res.end(payload);
};

/** An error envelope on Node's response object; `close` ends the connection after it. */
export const writeEnvelope = (res: ServerResponse, envelope: Envelope, close = false): void => {
  writeJson(res, envelope.status, JSON.stringify(envelope.body), { retryAfter: retryAfterOf(envelope), close });
};

/**
 * An error envelope written straight onto a socket that has no response object to write it with (Node's parser gave
 * up on the request, or it did not arrive in time); the caller destroys the socket after it, as Node itself does.
 */
export const writeEnvelopeToSocket = (socket: Socket, envelope: Envelope): void => {
  const payload = JSON.stringify(envelope.body);
  const headers = { date: new Date().toUTCString(), ...answerHeaders(payload, { retryAfter: retryAfterOf(envelope), close: true }) };
  const head = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.write(`HTTP/1.1 ${envelope.status} ${STATUS_CODES[envelope.status] ?? ''}\r\n${head}\r\n${payload}`);
};
