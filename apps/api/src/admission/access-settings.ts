import { AppConfig } from '@flash/runtime';

/** The part of the configuration the access layer reads (config.ts parses and documents each field). */
export type AccessSettings = Pick<
  AppConfig,
  | 'jwtSecret'
  | 'purchaseTokenTtlMs'
  | 'accessLimits'
  | 'freqPerUserPerS'
  | 'freqPerIpPerS'
  | 'admissionPerS'
  | 'hotspotThrottle'
  | 'hotspotFactor'
  | 'hotspotFloorPerS'
  | 'shedEventLoopDelayMs'
  | 'shedMaxInFlight'
  | 'degradationDropShare'
  | 'degradationTightenFactor'
  | 'powDifficulty'
  | 'powMinSolveMs'
  | 'redisUrl'
>;
