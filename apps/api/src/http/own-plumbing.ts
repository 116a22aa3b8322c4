import type { FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** See OWN_PLUMBING. */
    ownPlumbing?: boolean;
  }
}

/**
 * The config of a Fastify route that puts its whole answer together itself — in-flight count, security headers,
 * request metric, `connection: close` while draining, the envelope — and writes it below Fastify's reply (the
 * reservation route, whose pipeline also serves the fast path in front of Fastify). The global hooks that do those
 * things for every other route leave it alone, so that each is done once, in one place.
 */
export const OWN_PLUMBING = { ownPlumbing: true } as const;

export const ownsItsPlumbing = (request: FastifyRequest): boolean => request.routeOptions.config.ownPlumbing === true;
