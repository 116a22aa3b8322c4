import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ownsItsPlumbing } from './own-plumbing';
import { REQUEST_ID_HEADER } from './request-id';

/**
 * The response headers of a JSON API, as the OWASP REST Security Cheat Sheet lists them: nothing may be loaded or
 * framed by a response, its type is never sniffed, no referrer leaves, HTTPS is pinned (browsers ignore HSTS on
 * plain HTTP, so it is harmless behind a proxy that terminates TLS), and other origins cannot embed it. helmet's
 * other headers (Origin-Agent-Cluster, X-DNS-Prefetch-Control, X-Download-Options, the CSP's script and style
 * directives, …) concern HTML documents: the sale page's answers replace the content policy with SALE_PAGE_HEADERS.
 * Each header is written on every answer, so the set is the short one.
 */
const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cross-origin-resource-policy': 'same-origin',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
});

/**
 * The sale page (apps/web-static) loads its own script, style sheet and proof-of-work worker and calls this API: the
 * same origin and nothing else, no inline code, no forms, no framing.
 */
export const SALE_PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy':
    "default-src 'none'; script-src 'self'; worker-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
});

/**
 * The API document's UI (/docs, Swagger UI): its own script and style sheets, whose markup carries inline styles; it
 * calls this API from the same origin when a route is tried out.
 */
export const DOCS_UI_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
});

export const securityHeaders = (): Readonly<Record<string, string>> => SECURITY_HEADERS;

/** The headers of an answer Fastify writes: the security headers and the request's id (Fastify's `request.id`, see request-id.ts). */
export const setAnswerHeaders = (request: FastifyRequest, reply: FastifyReply): void => {
  void reply.headers(SECURITY_HEADERS).header(REQUEST_ID_HEADER, request.id);
};

/** On every Fastify route but those of their own plumbing, which put these in their answers themselves (raw-answer.ts). */
export const registerSecurityHeaders = (fastify: FastifyInstance): void => {
  fastify.addHook('onRequest', (request, reply, done) => {
    if (!ownsItsPlumbing(request)) setAnswerHeaders(request, reply);
    done();
  });
};
