import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { accessRequest } from './access-request';
import { PurchaseChecks } from './purchase-checks';
import { purchaseStepOf } from './purchase-route.decorator';

/** Per-user and per-IP frequency limits and the instance's admission rate, on the purchase routes: RATE_LIMITED. */
@Injectable()
export class FrequencyLimitGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly checks: PurchaseChecks,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const step = purchaseStepOf(this.reflector, context);
    if (step !== undefined) await this.checks.refuseTooFrequent(accessRequest(context), step);
    return true;
  }
}
