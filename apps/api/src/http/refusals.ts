import type { Type } from '@nestjs/common';
import { ApiErrorCode } from './error-catalogue';

const REFUSALS = 'flash:refusals';

/**
 * `@Refuses('NOT_FOUND', …)` on a route handler or its controller: the error codes the route can answer, as the API
 * document lists them (apps/api/src/api-document). The decorators that bring a check with them declare its codes
 * themselves (`@Authenticated`, `@PurchaseRoute`, `@JsonBody`), so a handler names only those it throws. Codes add
 * up: several `@Refuses` on one target are one union.
 */
export const Refuses =
  (...codes: ApiErrorCode[]) =>
  (target: object, _key?: string | symbol, descriptor?: PropertyDescriptor): void => {
    const holder = (descriptor?.value ?? target) as object;
    const known = (Reflect.getMetadata(REFUSALS, holder) as ApiErrorCode[] | undefined) ?? [];
    Reflect.defineMetadata(REFUSALS, [...new Set([...known, ...codes])], holder);
  };

/** The codes a handler can answer: its own and its controller's. */
export const refusalsOf = (controller: Type, handler: object): ApiErrorCode[] => {
  const own = (Reflect.getMetadata(REFUSALS, handler) as ApiErrorCode[] | undefined) ?? [];
  const shared = (Reflect.getMetadata(REFUSALS, controller) as ApiErrorCode[] | undefined) ?? [];
  return [...new Set([...shared, ...own])];
};
