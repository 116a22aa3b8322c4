/**
 * The configuration the access layer reads. AppConfig carries these fields (config.ts parses them from the
 * environment); this interface names only what the access layer needs, so it can be tested without the rest.
 */
export interface AccessSettings {
  readonly jwtSecret: string;
  readonly purchaseTokenTtlMs: number;
  /** ACCESS_LIMITS: off switches the frequency limits and the admission rate off, nothing else. */
  readonly accessLimits: boolean;
  /** FREQ_PER_USER_PER_S */
  readonly freqPerUserPerS: number;
  /** FREQ_PER_IP_PER_S */
  readonly freqPerIpPerS: number;
  /** ADMISSION_PER_S, per api instance */
  readonly admissionPerS: number;
  /** SHED_EVENT_LOOP_DELAY_MS */
  readonly shedEventLoopDelayMs: number;
  /** SHED_MAX_IN_FLIGHT */
  readonly shedMaxInFlight: number;
  /** DEGRADATION_DROP_SHARE, 0..1 */
  readonly degradationDropShare: number;
  /** DEGRADATION_TIGHTEN_FACTOR, ≥ 1 */
  readonly degradationTightenFactor: number;
  /** POW_DIFFICULTY */
  readonly powDifficulty: number;
  /** POW_MIN_SOLVE_MS */
  readonly powMinSolveMs: number;
  /** REDIS_URL: when set, limits, blacklist and degradation level are shared by every instance. */
  readonly redisUrl?: string;
}
