import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Degradation, KnownIdempotencyKeys } from '@flash/access';
import { accessRequest, isKnownReplay, refusal } from './access-request';
import { KNOWN_IDEMPOTENCY_KEYS } from './access.tokens';
import { purchaseStepOf } from './purchase-route.decorator';

/** The degradation level on the purchase routes: level 2 drops a share at random, level 3 admits no new buyer. */
@Injectable()
export class DegradationGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly degradation: Degradation,
    @Inject(KNOWN_IDEMPOTENCY_KEYS) private readonly knownKeys: KnownIdempotencyKeys,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const step = purchaseStepOf(this.reflector, context);
    if (step === undefined) return true;
    const verdict = this.degradation.check(step);
    if (verdict.ok) return true;
    // A replay is a buyer already admitted: it gets its answer, not a drop.
    if (await isKnownReplay(accessRequest(context), step, this.knownKeys)) return true;
    throw refusal(verdict);
  }
}
