import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Blacklist } from '@flash/access';
import { ApiError } from '../http/error-catalogue';
import { accessRequest } from './access-request';
import { BLACKLIST } from './access.tokens';
import { purchaseStepOf } from './purchase-route.decorator';

/** Blocked users and addresses get BLOCKED on the purchase routes; the reason stays with the admins. */
@Injectable()
export class BlacklistGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(BLACKLIST) private readonly blacklist: Blacklist,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (purchaseStepOf(this.reflector, context) === undefined) return true;
    const request = accessRequest(context);
    const userId = request.principal?.userId;
    const match = this.blacklist.match({ ip: request.ip, ...(userId === undefined ? {} : { userId }) });
    if (match) throw new ApiError('BLOCKED', match.kind === 'user' ? 'this account is blocked from purchases' : 'this address is blocked from purchases');
    return true;
  }
}
