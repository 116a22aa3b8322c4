import { Inject, Injectable } from '@nestjs/common';
import { Blacklist, Degradation, FrequencyLimits, HotSpots, KnownIdempotencyKeys, OverloadShedder, PurchaseStep } from '@flash/access';
import { ApiError, ApiErrorCode } from '../http/error-catalogue';
import { isKnownReplay, isOperatorUrl, PurchaseRequest, refusal } from './access-request';
import { BLACKLIST, KNOWN_IDEMPOTENCY_KEYS } from './access.tokens';

/** Whether a request to `url` may be shed with OVERLOADED (the OverloadGuard on every Nest route, the reservation route). */
export const mayBeShed = (url: string): boolean => !isOperatorUrl(url);

/** What `purchase` can refuse with, in its order. */
export const PURCHASE_CHECK_REFUSALS: readonly ApiErrorCode[] = ['BLOCKED', 'RATE_LIMITED', 'OVERLOADED', 'DEGRADED'];

/**
 * The access layer's checks, in the order they apply to a purchase request (after authentication): blacklist,
 * frequency limits, overload, degradation. Blocked and rate-limited clients keep their more specific answer over
 * OVERLOADED; every check before the handler is an in-memory lookup (or one Redis call for shared limits).
 * The Nest guards apply them route by route; the reservation route, which runs outside Nest's pipeline
 * (reservation.pipeline.ts, behind both its ways in), calls `purchase` for all four at once.
 */
@Injectable()
export class PurchaseChecks {
  constructor(
    @Inject(BLACKLIST) private readonly blacklist: Blacklist,
    private readonly limits: FrequencyLimits,
    private readonly shedder: OverloadShedder,
    private readonly degradation: Degradation,
    @Inject(KNOWN_IDEMPOTENCY_KEYS) private readonly knownKeys: KnownIdempotencyKeys,
    private readonly hotSpots: HotSpots,
  ) {}

  /** Blocked users and addresses get BLOCKED; the reason stays with the admins. */
  refuseBlocked(request: PurchaseRequest): void {
    const userId = request.principal?.userId;
    const match = this.blacklist.match({ ip: request.ip, ...(userId === undefined ? {} : { userId }) });
    if (match) throw new ApiError('BLOCKED', match.kind === 'user' ? 'this account is blocked from purchases' : 'this address is blocked from purchases');
  }

  /**
   * A user or address far above the crowd (HOTSPOT_THROTTLE), then the per-user and per-IP frequency limits and the
   * instance's admission rate: RATE_LIMITED, except for a replay. ACCESS_LIMITS=off switches all of them off.
   */
  async refuseTooFrequent(request: PurchaseRequest, step: PurchaseStep): Promise<void> {
    if (!this.limits.enabled) return;
    const userId = request.principal?.userId;
    if (userId === undefined) return; // the purchase routes are authenticated: authentication has refused already
    // A throttled hot spot is refused before it spends the limiters' budget (the IP's and the instance's).
    const hot = this.hotSpots.check(userId, request.ip);
    const verdict = hot.ok ? await this.limits.check({ ip: request.ip, userId }) : hot;
    if (verdict.ok || (await isKnownReplay(request, step, this.knownKeys))) return;
    throw refusal(verdict);
  }

  /** OVERLOADED while the process is behind (InFlightHooks counts the requests in flight). */
  refuseOverloaded(url: string): void {
    if (!mayBeShed(url)) return;
    const verdict = this.shedder.check();
    if (!verdict.ok) throw refusal(verdict);
  }

  /** Level 2 drops a share at random, level 3 admits no new buyer; a replay is a buyer already admitted. */
  async refuseDegraded(request: PurchaseRequest, step: PurchaseStep): Promise<void> {
    const verdict = this.degradation.check(step);
    if (verdict.ok) return;
    if (await isKnownReplay(request, step, this.knownKeys)) return;
    throw refusal(verdict);
  }

  /** All four, in order, for an authenticated purchase request. */
  async purchase(request: PurchaseRequest, step: PurchaseStep): Promise<void> {
    this.refuseBlocked(request);
    await this.refuseTooFrequent(request, step);
    this.refuseOverloaded(request.url);
    await this.refuseDegraded(request, step);
  }
}
