import { applyDecorators, ExecutionContext, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { PurchaseStep } from '@flash/access';
import { Refuses } from '../http/refusals';
import { PURCHASE_CHECK_REFUSALS } from './purchase-checks';

const PURCHASE_ROUTE_KEY = 'flash:purchase-route';

/**
 * Marks the two purchase routes, GET /sales/:id/access (`'access'`) and POST /sales/:id/reservations
 * (`'reservation'`): the blacklist, the frequency limits and the degradation level apply to them.
 */
export const PurchaseRoute = (step: PurchaseStep): MethodDecorator => applyDecorators(SetMetadata(PURCHASE_ROUTE_KEY, step), Refuses(...PURCHASE_CHECK_REFUSALS));

export const purchaseStepOf = (reflector: Reflector, context: ExecutionContext): PurchaseStep | undefined =>
  reflector.get<PurchaseStep | undefined>(PURCHASE_ROUTE_KEY, context.getHandler());
