import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

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
