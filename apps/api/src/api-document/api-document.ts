import type { INestApplication, Type } from '@nestjs/common';
import { PATH_METADATA } from '@nestjs/common/constants';
import { ModulesContainer } from '@nestjs/core';
import { DocumentBuilder, OpenAPIObject, OperationObject, PathItemObject, ReferenceObject, ResponseObject, SwaggerModule } from '@nestjs/swagger';
import { mayBeShed } from '../admission/purchase-checks';
import { ApiErrorCode } from '../http/error-catalogue';
import { waitsForReadiness } from '../http/readiness.guard';
import { refusalsOf } from '../http/refusals';
import { RESERVATION_REFUSALS, reservationOperation } from '../reservations/reserve-stock/reservation.openapi';
import { ERROR_ENVELOPE, ERROR_ENVELOPE_SCHEMA, ErrorResponse, errorResponses } from './error-responses';

export const DOCS_UI_PATH = '/docs';
export const DOCS_JSON_PATH = '/docs/json';

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** Nest's `:id` is OpenAPI's `{id}`. */
export const toOpenApiPath = (nestPath: string): string => nestPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

const operationIdOf = (controller: string, handler: string): string => `${controller}_${handler}`;

/** The error codes each Nest route handler declares (`@Refuses` and the decorators that bring their own), by operation id. */
const declaredRefusals = (app: INestApplication): Map<string, readonly ApiErrorCode[]> => {
  const refusals = new Map<string, readonly ApiErrorCode[]>();
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as Type | null;
      if (controller === null) continue;
      const prototype = controller.prototype as Record<string, unknown>;
      for (const name of Object.getOwnPropertyNames(prototype)) {
        const handler = prototype[name];
        if (typeof handler !== 'function' || Reflect.getMetadata(PATH_METADATA, handler) === undefined) continue;
        refusals.set(operationIdOf(controller.name, name), refusalsOf(controller, handler));
      }
    }
  }
  return refusals;
};

/**
 * A status the route describes itself (a richer body: /health/ready's 503 is the health report too) keeps its
 * description and schema, and gains the codes and their envelope examples.
 */
const withOwnDescription = (generated: ErrorResponse, own: ResponseObject | ReferenceObject | undefined): ErrorResponse => {
  if (own === undefined || !('description' in own)) return generated;
  const media = generated.content?.['application/json'];
  const ownSchema = own.content?.['application/json']?.schema;
  return {
    ...generated,
    description: `${own.description} (${generated.description})`,
    content: { 'application/json': { ...media, ...(ownSchema === undefined ? {} : { schema: ownSchema }) } },
  };
};

/** What the global guards add, by path: they run on every route, the reservation pipeline runs the same checks. */
const globalRefusals = (path: string): ApiErrorCode[] => [
  ...(waitsForReadiness(path) ? (['NOT_READY'] as const) : []),
  ...(mayBeShed(path) ? (['OVERLOADED'] as const) : []),
];

/** The document's own routes (API.md "Operations" lists them), which SwaggerModule serves but does not describe. */
const DOCUMENT_ROUTES: Record<string, PathItemObject> = {
  [DOCS_UI_PATH]: {
    get: {
      operationId: 'ApiDocument_ui',
      tags: ['operations'],
      summary: 'This document, browsable (Swagger UI)',
      responses: { '200': { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } } },
    },
  },
  [DOCS_JSON_PATH]: {
    get: {
      operationId: 'ApiDocument_json',
      tags: ['operations'],
      summary: 'This document (OpenAPI 3, JSON)',
      responses: { '200': { description: 'the OpenAPI document', content: { 'application/json': { schema: { type: 'object' } } } } },
    },
  },
};

const DESCRIPTION = [
  'The HTTP contract of the flash-sale engine (docs/API.md). JSON in and out, UTF-8.',
  '',
  'Every non-2xx body is `{"error":{"code","message","retryable","retryAfterMs"?}}`; 429 and 503 also send `Retry-After`.',
  "Each operation lists the codes it can answer, grouped by status (`x-error-codes`). Any request can also meet the HTTP edge's",
  'own refusals: 413 PAYLOAD_TOO_LARGE (headers over 16 KB), 408 REQUEST_TIMEOUT (past REQUEST_TIMEOUT_MS), 503 NOT_READY',
  'while the server drains, and 500 INTERNAL.',
  '',
  'Authentication (`Authorization: Bearer <JWT>`, HS256) and role are checked before the body. `POST /auth/dev-token`',
  'exists only with DEMO=1.',
].join('\n');

/**
 * The OpenAPI document of every route: the Nest controllers as SwaggerModule scans them (schemas from the DTOs'
 * `@ApiProperty`), the reservation route from its own description (reservation.openapi.ts), and on every operation
 * the error responses of the codes it declares, built from the one error catalogue.
 */
export const buildApiDocument = (app: INestApplication): OpenAPIObject => {
  const config = new DocumentBuilder()
    .setTitle('Flash-sale API')
    .setDescription(DESCRIPTION)
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }, 'bearer')
    .build();
  const reservation = reservationOperation();
  const document = SwaggerModule.createDocument(app, config, {
    extraModels: reservation.models,
    operationIdFactory: (controller, handler) => operationIdOf(controller, handler),
  });
  const reservationPath = toOpenApiPath(reservation.path);
  document.paths[reservationPath] = { ...document.paths[reservationPath], [reservation.method]: reservation.operation };
  Object.assign(document.paths, DOCUMENT_ROUTES);

  const refusals = declaredRefusals(app);
  refusals.set(reservation.operation.operationId as string, RESERVATION_REFUSALS);
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of HTTP_METHODS) {
      const operation: OperationObject | undefined = item[method];
      if (operation === undefined || operation.operationId?.startsWith('ApiDocument_') === true) continue;
      const codes = [...new Set([...(refusals.get(operation.operationId ?? '') ?? []), ...globalRefusals(path)])];
      for (const [status, response] of Object.entries(errorResponses(codes))) {
        operation.responses[status] = withOwnDescription(response, operation.responses[status]);
      }
    }
  }
  document.components = { ...document.components, schemas: { ...document.components?.schemas, [ERROR_ENVELOPE]: ERROR_ENVELOPE_SCHEMA } };
  return document;
};
