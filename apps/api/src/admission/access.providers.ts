import { Provider, Type } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import {
  Blacklist,
  Degradation,
  DegradationState,
  deriveKey,
  DEFAULT_HOT_SPOT_SETTINGS,
  FrequencyLimits,
  HotSpots,
  InMemoryBlacklist,
  InMemoryDegradationState,
  OverloadShedder,
  ProofOfWork,
  RecentIdempotencyKeys,
  RedisSharedAccessState,
  RejectionRecorder,
} from '@flash/access';
import { RejectionLog } from '@flash/read-models';
import Redis from 'ioredis';
import { Clock, CLOCK, SaleCatalogue } from '@flash/command-side';
import { HotPathCounters } from '../metrics/hot-path-counters';
import { InFlightHooks } from './in-flight-hooks';
import { AccessSettings } from './access-settings';
import { ACCESS_REDIS, BLACKLIST, DEGRADATION_STATE, KNOWN_IDEMPOTENCY_KEYS, REJECTION_RECORDER, SHARED_ACCESS_STATE } from './access.tokens';
import { BlacklistController } from './blacklist.controller';
import { BlacklistGuard } from './blacklist.guard';
import { DegradationController } from './degradation.controller';
import { DegradationGuard } from './degradation.guard';
import { FrequencyLimitGuard } from './frequency-limit.guard';
import { HotSpotHooks } from './hot-spot-hooks';
import { HotSpotsController } from './hot-spots.controller';
import { OverloadGuard } from './overload.guard';
import { PurchaseChecks } from './purchase-checks';

/** Blacklist and degradation level of this process only (embedded mode). */
const inProcess: Provider[] = [
  { provide: DEGRADATION_STATE, useFactory: (): DegradationState => new InMemoryDegradationState() },
  { provide: BLACKLIST, useFactory: (clock: Clock): Blacklist => new InMemoryBlacklist(() => clock.now()), inject: [CLOCK] },
];

/** With REDIS_URL: frequency limits, blacklist and degradation level shared by every api instance. */
const sharedThroughRedis = (url: string): Provider[] => [
  { provide: ACCESS_REDIS, useFactory: () => new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false }) },
  { provide: SHARED_ACCESS_STATE, useFactory: (clock: Clock) => RedisSharedAccessState.connect(url, () => clock.now()), inject: [CLOCK] },
  { provide: DEGRADATION_STATE, useFactory: (shared: RedisSharedAccessState) => shared.degradation, inject: [SHARED_ACCESS_STATE] },
  { provide: BLACKLIST, useFactory: (shared: RedisSharedAccessState) => shared.blacklist, inject: [SHARED_ACCESS_STATE] },
];

/** The access layer's services, one instance each per api process. */
export const accessProviders = (config: AccessSettings): Provider[] => [
  {
    provide: FrequencyLimits,
    useFactory: (redis?: Redis) =>
      new FrequencyLimits(
        {
          enabled: config.accessLimits,
          perUser: { points: config.freqPerUserPerS, durationS: 1 },
          perIp: { points: config.freqPerIpPerS, durationS: 1 },
          admission: { points: config.admissionPerS, durationS: 1 },
        },
        redis ? { redis } : {},
      ),
    inject: [{ token: ACCESS_REDIS, optional: true }],
  },
  {
    provide: OverloadShedder,
    useFactory: (clock: Clock) =>
      new OverloadShedder({ maxEventLoopDelayMs: config.shedEventLoopDelayMs, maxInFlight: config.shedMaxInFlight }, { now: () => clock.now() }),
    inject: [CLOCK],
  },
  ...(config.redisUrl ? sharedThroughRedis(config.redisUrl) : inProcess),
  {
    provide: Degradation,
    useFactory: (state: DegradationState, limits: FrequencyLimits) =>
      new Degradation(
        state,
        { dropShare: config.degradationDropShare, tightenFactor: config.degradationTightenFactor },
        { random: Math.random, limits },
      ),
    inject: [DEGRADATION_STATE, FrequencyLimits],
  },
  {
    provide: REJECTION_RECORDER,
    // The reservation pipeline reports refusals for sales that exist only (sale ids in refused requests come from clients).
    useFactory: (counters: HotPathCounters, log: RejectionLog, clock: Clock): RejectionRecorder => ({
      record: (saleId, code) => {
        counters.rejected(saleId, code);
        log.record(saleId, code, clock.now());
      },
    }),
    inject: [HotPathCounters, RejectionLog, CLOCK],
  },
  { provide: KNOWN_IDEMPOTENCY_KEYS, useFactory: () => new RecentIdempotencyKeys() },
  {
    provide: ProofOfWork,
    useFactory: () =>
      new ProofOfWork(deriveKey(config.jwtSecret, 'pow-challenge').toString('base64url'), {
        difficulty: config.powDifficulty,
        minSolveMs: config.powMinSolveMs,
        ttlMs: config.purchaseTokenTtlMs,
      }),
  },
  {
    provide: HotSpots,
    useFactory: (clock: Clock, catalogue: SaleCatalogue) =>
      new HotSpots(
        {
          ...DEFAULT_HOT_SPOT_SETTINGS,
          // ACCESS_LIMITS=off (single-host load tests) means no rate limit of any kind; the ranking still runs.
          throttle: { enabled: config.hotspotThrottle && config.accessLimits, factor: config.hotspotFactor, floorPerS: config.hotspotFloorPerS },
        },
        { now: () => clock.now(), isSale: (saleId) => catalogue.sale(saleId) !== undefined },
      ),
    inject: [CLOCK, SaleCatalogue],
  },
  InFlightHooks,
  HotSpotHooks,
  PurchaseChecks,
];

/**
 * In this order, registered right after AuthGuard (APP_GUARDs run in registration order): blacklist → frequency
 * limits → overload shedding → degradation. The purchase token and the challenge follow in the handler.
 */
export const ACCESS_GUARDS: Provider[] = [BlacklistGuard, FrequencyLimitGuard, OverloadGuard, DegradationGuard].map(
  (guard): Provider => ({ provide: APP_GUARD, useClass: guard }),
);

export const ACCESS_CONTROLLERS: Type[] = [BlacklistController, DegradationController, HotSpotsController];
