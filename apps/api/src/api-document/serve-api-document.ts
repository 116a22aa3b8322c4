import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import type { onRequestHookHandler } from 'fastify';
import { DOCS_UI_HEADERS } from '../http/security-headers';
import { buildApiDocument, DOCS_JSON_PATH, DOCS_UI_PATH } from './api-document';

/** The UI's pages load its script and style sheets from /docs: the strict policy of the JSON routes would block them. */
const docsUiHeaders: onRequestHookHandler = (_request, reply, done) => {
  void reply.headers(DOCS_UI_HEADERS);
  done();
};

/**
 * `GET /docs` (Swagger UI) and `GET /docs/json`. The document is built on its first request and kept (SwaggerModule
 * takes a factory): nothing at start-up, nothing per request but serialising it. Its routes are ordinary Fastify
 * routes — far from the reservation fast path, no Nest guard — with the global hooks (security headers, request
 * metric) like any other; the UI's own routes get their content policy as a route hook, so no other route pays a check.
 */
export const serveApiDocument = (app: NestFastifyApplication): void => {
  app.getHttpAdapter().getInstance().addHook('onRoute', (route) => {
    if (!route.url.startsWith(DOCS_UI_PATH) || route.url === DOCS_JSON_PATH) return;
    const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [...own, docsUiHeaders];
  });
  SwaggerModule.setup(DOCS_UI_PATH.slice(1), app, () => buildApiDocument(app), {
    jsonDocumentUrl: DOCS_JSON_PATH.slice(1),
    raw: ['json'],
    customSiteTitle: 'Flash-sale API',
  });
};
