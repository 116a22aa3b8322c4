import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { FrequencyLimits, KnownIdempotencyKeys } from '@flash/access';
import { accessRequest, isKnownReplay, refusal } from './access-request';
import { KNOWN_IDEMPOTENCY_KEYS } from './access.tokens';
import { purchaseStepOf } from './purchase-route.decorator';

/** Per-user and per-IP frequency limits and the instance's admission rate, on the purchase routes: RATE_LIMITED. */
@Injectable()
export class FrequencyLimitGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly limits: FrequencyLimits,
    @Inject(KNOWN_IDEMPOTENCY_KEYS) private readonly knownKeys: KnownIdempotencyKeys,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const step = purchaseStepOf(this.reflector, context);
    if (step === undefined || !this.limits.enabled) return true;
    const request = accessRequest(context);
    const userId = request.principal?.userId;
    if (userId === undefined) return true; // the purchase routes are authenticated: AuthGuard has refused already
    const verdict = await this.limits.check({ ip: request.ip, userId });
    if (verdict.ok || (await isKnownReplay(request, step, this.knownKeys))) return true;
    throw refusal(verdict);
  }
}
