import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { accessRequest } from './access-request';
import { PurchaseChecks } from './purchase-checks';
import { purchaseStepOf } from './purchase-route.decorator';

/** The degradation level on the purchase routes: level 2 drops a share at random, level 3 admits no new buyer. */
@Injectable()
export class DegradationGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly checks: PurchaseChecks,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const step = purchaseStepOf(this.reflector, context);
    if (step !== undefined) await this.checks.refuseDegraded(accessRequest(context), step);
    return true;
  }
}
