import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { accessRequest } from './access-request';
import { PurchaseChecks } from './purchase-checks';

/**
 * Sheds with OVERLOADED while the process is behind. A guard rather than an onRequest hook so that blocked and
 * rate-limited clients keep their more specific answer; every check before it is an in-memory lookup, and what
 * costs (the handler) comes after.
 */
@Injectable()
export class OverloadGuard implements CanActivate {
  constructor(private readonly checks: PurchaseChecks) {}

  canActivate(context: ExecutionContext): boolean {
    this.checks.refuseOverloaded(accessRequest(context).url);
    return true;
  }
}
