import type Redis from 'ioredis';
import { RateLimiterAbstract, RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { ADMITTED, Verdict } from './verdict';

/** `points` purchase attempts per `durationS` seconds (a fixed window per key). */
export interface RateLimit {
  readonly points: number;
  readonly durationS: number;
}

export interface FrequencyLimitSettings {
  /** ACCESS_LIMITS=off switches all three limits off (single-host load tests). */
  readonly enabled: boolean;
  readonly perUser: RateLimit;
  readonly perIp: RateLimit;
  /** Global admission into the purchase funnel, per api instance. */
  readonly admission: RateLimit;
}

/** A flash sale's defaults: a human clicks a few times a second; an office behind one NAT is many humans. */
export const DEFAULT_FREQUENCY_LIMITS: FrequencyLimitSettings = {
  enabled: true,
  perUser: { points: 5, durationS: 1 },
  perIp: { points: 20, durationS: 1 },
  admission: { points: 5000, durationS: 1 },
};

export interface FrequencyLimitsOptions {
  /** Shares the per-user and per-IP counters between instances; global admission stays per instance. */
  readonly redis?: Redis;
  readonly keyPrefix?: string;
}

export interface PurchaseAttempt {
  readonly ip: string;
  readonly userId: string;
}

export type FrequencyVerdict = Verdict<'RATE_LIMITED'>;

type LimitName = 'user' | 'ip' | 'admission';

interface Limiter {
  readonly name: LimitName;
  readonly base: RateLimit;
  /** The limiter and, for Redis, its in-memory insurance: tightening must reach both. */
  readonly instances: readonly RateLimiterAbstract[];
  readonly consume: (key: string) => Promise<RateLimiterRes>;
}

/**
 * Per-user and per-IP frequency limits and the global admission rate (seed 000's access layer), on
 * rate-limiter-flexible. Checked cheapest-to-abuse first: a user over their own limit does not use up the IP's
 * or the instance's budget. With Redis, a Redis outage falls back to the same limits in memory, per instance.
 */
export class FrequencyLimits {
  private readonly limiters: readonly Limiter[];
  private factor = 1;

  constructor(
    readonly settings: FrequencyLimitSettings = DEFAULT_FREQUENCY_LIMITS,
    options: FrequencyLimitsOptions = {},
  ) {
    const prefix = options.keyPrefix ?? 'flash:freq';
    this.limiters = [
      shared('user', settings.perUser, `${prefix}:user`, options.redis),
      shared('ip', settings.perIp, `${prefix}:ip`, options.redis),
      local('admission', settings.admission, `${prefix}:admission`),
    ];
  }

  get enabled(): boolean {
    return this.settings.enabled;
  }

  async check(attempt: PurchaseAttempt): Promise<FrequencyVerdict> {
    if (!this.settings.enabled) return ADMITTED;
    const keys: Record<LimitName, string> = { user: attempt.userId, ip: attempt.ip, admission: 'all' };
    for (const limiter of this.limiters) {
      try {
        await limiter.consume(keys[limiter.name]);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        return {
          ok: false,
          code: 'RATE_LIMITED',
          retryAfterMs: Math.max(1, Math.ceil(rejection.msBeforeNext)),
          reason: refusalReason[limiter.name],
        };
      }
    }
    return ADMITTED;
  }

  /**
   * Degradation level 1: every limit divided by `factor` (at least 1 point each); `tighten(1)` restores them.
   * Counters already spent in the current window are kept, so tightening takes effect at once.
   */
  tighten(factor: number): void {
    if (!Number.isFinite(factor) || factor < 1) throw new RangeError(`a tightening factor is ≥ 1, got ${factor}`);
    this.factor = factor;
    for (const limiter of this.limiters) {
      const points = Math.max(1, Math.floor(limiter.base.points / factor));
      for (const instance of limiter.instances) instance.points = points;
    }
  }

  get tighteningFactor(): number {
    return this.factor;
  }
}

const refusalReason: Readonly<Record<LimitName, string>> = {
  user: 'too many purchase attempts from this account',
  ip: 'too many purchase attempts from this address',
  admission: 'too many buyers are entering right now',
};

const local = (name: LimitName, base: RateLimit, keyPrefix: string): Limiter => {
  const memory = new RateLimiterMemory({ points: base.points, duration: base.durationS, keyPrefix });
  return { name, base, instances: [memory], consume: (key) => memory.consume(key) };
};

const shared = (name: LimitName, base: RateLimit, keyPrefix: string, redis: Redis | undefined): Limiter => {
  if (!redis) return local(name, base, keyPrefix);
  const insurance = new RateLimiterMemory({ points: base.points, duration: base.durationS, keyPrefix });
  const limiter = new RateLimiterRedis({
    storeClient: redis,
    points: base.points,
    duration: base.durationS,
    keyPrefix,
    insuranceLimiter: insurance,
    // While Redis is away, decide from memory at once instead of queueing behind the reconnect.
    rejectIfRedisNotReady: true,
    // A key already over its limit is refused from memory for the rest of its window: a bot hammering
    // one account costs no Redis round trips.
    inMemoryBlockOnConsumed: base.points + 1,
  });
  return { name, base, instances: [limiter, insurance], consume: (key) => limiter.consume(key) };
};
