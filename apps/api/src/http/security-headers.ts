import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import helmet from 'helmet';

/** A JSON API: nothing to load, nothing to frame. */
const HELMET_OPTIONS = { contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } } } as const;

/**
 * helmet's headers, computed once. They depend on nothing in the request (no CSP nonces here), so running helmet's
 * middleware on every request, as @fastify/helmet does, would only cost the hot path time for the same answer.
 */
export const securityHeaders = (): Readonly<Record<string, string>> => {
  const headers = new Map<string, string>();
  const response = {
    setHeader: (name: string, value: unknown) => headers.set(name, String(value)),
    removeHeader: (name: string) => headers.delete(name),
    getHeader: (name: string) => headers.get(name),
  };
  let failure: unknown;
  helmet(HELMET_OPTIONS)({ headers: {} } as IncomingMessage, response as unknown as ServerResponse, (error?: unknown) => (failure = error));
  if (failure !== undefined) throw new Error('helmet refused its options', { cause: failure });
  return Object.freeze(Object.fromEntries(headers));
};

export const registerSecurityHeaders = (fastify: FastifyInstance): void => {
  const headers = securityHeaders();
  fastify.addHook('onRequest', (_request, reply, done) => {
    void reply.headers(headers);
    done();
  });
};
