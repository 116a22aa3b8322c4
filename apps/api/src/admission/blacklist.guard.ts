import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { accessRequest } from './access-request';
import { PurchaseChecks } from './purchase-checks';
import { purchaseStepOf } from './purchase-route.decorator';

/** Blocked users and addresses get BLOCKED on the purchase routes. */
@Injectable()
export class BlacklistGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly checks: PurchaseChecks,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (purchaseStepOf(this.reflector, context) !== undefined) this.checks.refuseBlocked(accessRequest(context));
    return true;
  }
}
