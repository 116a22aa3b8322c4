/** Injection tokens for the access layer's ports (the classes are their own tokens). */
export const BLACKLIST = Symbol('BLACKLIST');
export const DEGRADATION_STATE = Symbol('DEGRADATION_STATE');
export const KNOWN_IDEMPOTENCY_KEYS = Symbol('KNOWN_IDEMPOTENCY_KEYS');
/** Optional: an ioredis client; when provided, per-user and per-IP limits are shared between instances. */
export const ACCESS_REDIS = Symbol('ACCESS_REDIS');
/** With REDIS_URL: the blacklist and degradation level shared through Redis (RedisSharedAccessState). */
export const SHARED_ACCESS_STATE = Symbol('SHARED_ACCESS_STATE');
/** Where refused purchases are reported (RejectionRecorder): Prometheus and the analytics read model. */
export const REJECTION_RECORDER = Symbol('REJECTION_RECORDER');
