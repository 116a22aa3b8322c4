import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import path from 'node:path';
import type { SqliteSynchronous } from '@flash/event-store';
import { LOG_FORMATS, LogFormat } from './log-format';

/** Everything the process reads from its environment, parsed once, typed, with the defaults of API.md. */
export interface AppConfig {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly demo: boolean;
  readonly jwtSecret: string;
  /** True when JWT_SECRET was not given: the generated one is printed in demo mode. */
  readonly jwtSecretGenerated: boolean;
  readonly paymentWebhookSecret: string;
  /** JWT_MAX_TTL_S: a bearer token whose lifetime (exp − iat, or exp − now without iat) is longer is refused. */
  readonly jwtMaxTtlSeconds: number;
  /** JWT_JWKS_URL and its companions: RS256/ES256 tokens of an identity provider; absent when not set (HS256 only). */
  readonly jwks?: JwksConfig;
  readonly accessLimits: boolean;
  readonly logLevel: string;
  /** LOG_FORMAT: json, pretty, or auto (pretty on a terminal). */
  readonly logFormat: LogFormat;
  readonly sqliteSynchronous: SqliteSynchronous;
  /** Commit the appends of one event-loop turn (all shards and buyers) in one transaction: store-level group commit. */
  readonly sqliteCoalesceAppends: boolean;
  /** Most commands one shard writer decides and appends in one batch. */
  readonly shardMaxBatch: number;
  readonly purchaseTokenTtlMs: number;
  readonly bodyLimitBytes: number;
  /** REQUEST_TIMEOUT_MS: a request's headers and body arrive within this, or 408 and its connection is closed. */
  readonly requestTimeoutMs: number;
  /** KEEP_ALIVE_TIMEOUT_MS: a keep-alive connection idle this long after an answer is closed. */
  readonly keepAliveTimeoutMs: number;
  /** MAX_CONNECTIONS_PER_IP: connections one client address may hold open at once (0: no cap). */
  readonly maxConnectionsPerIp: number;
  /**
   * TRUST_PROXY: the proxies (addresses, CIDR ranges, or loopback / linklocal / uniquelocal) whose X-Forwarded-For
   * the api believes. Empty (the default, `off`): the client is the socket's peer and X-Forwarded-For is ignored.
   */
  readonly trustProxy: readonly string[];
  readonly devTokenTtlSeconds: number;
  readonly shutdownTimeoutMs: number;
  /** How often the sagas look for due work (expired holds, releases, unsettled claims). */
  readonly sweepIntervalMs: number;
  /** How long a quota claim may stay without its order before the compensation saga settles it. */
  readonly compensationSettleMs: number;
  /** FREQ_PER_USER_PER_S: purchase attempts per user per second (off with ACCESS_LIMITS=off). */
  readonly freqPerUserPerS: number;
  /** FREQ_PER_IP_PER_S: purchase attempts per client IP per second (off with ACCESS_LIMITS=off). */
  readonly freqPerIpPerS: number;
  /** ADMISSION_PER_S: purchase requests admitted per second by this instance (off with ACCESS_LIMITS=off). */
  readonly admissionPerS: number;
  /** HOTSPOT_THROTTLE: refuse a user or IP far above the crowd (off by default; off with ACCESS_LIMITS=off). */
  readonly hotspotThrottle: boolean;
  /** HOTSPOT_FACTOR: "far above" is past this many times the median rate of the active users (or IPs). */
  readonly hotspotFactor: number;
  /** HOTSPOT_FLOOR_PER_S: and past this many requests per second, whatever the crowd does. */
  readonly hotspotFloorPerS: number;
  /** SHED_EVENT_LOOP_DELAY_MS: shed while the event loop's p99 delay is above this. */
  readonly shedEventLoopDelayMs: number;
  /** SHED_MAX_IN_FLIGHT: shed above this many requests in flight. */
  readonly shedMaxInFlight: number;
  /** DEGRADATION_DROP_SHARE: share of purchases dropped at degradation level 2, 0..1. */
  readonly degradationDropShare: number;
  /** DEGRADATION_TIGHTEN_FACTOR: level ≥ 1 divides the frequency limits by this. */
  readonly degradationTightenFactor: number;
  /** POW_DIFFICULTY: proof-of-work search space (altcha maxnumber). */
  readonly powDifficulty: number;
  /** POW_MIN_SOLVE_MS: answers faster than this after the challenge was issued are refused. */
  readonly powMinSolveMs: number;
  /** WAITING_ROOM_TICKETS_PER_IP: new waiting-room tickets one client address may take per sale (off with ACCESS_LIMITS=off). */
  readonly waitingRoomTicketsPerIp: number;
  /** WAITING_ROOM_ADAPTIVE: the admission rate steps down while the back end is stressed (on by default). */
  readonly waitingRoomAdaptive: boolean;
  /** WAITING_ROOM_MAX_LOOP_DELAY_MS: p99 event-loop delay above which the back end counts as stressed. */
  readonly waitingRoomMaxLoopDelayMs: number;
  /** WAITING_ROOM_MAX_APPEND_MS: recent shard-append latency above which the back end counts as stressed. */
  readonly waitingRoomMaxAppendMs: number;
  /** WAITING_ROOM_MAX_SAGA_BACKLOG: saga backlog above which the back end counts as stressed. */
  readonly waitingRoomMaxSagaBacklog: number;
  /** WORKER_METRICS_PORT: the worker process serves GET /metrics on this port (on HOST); unset, it serves nothing. */
  readonly workerMetricsPort?: number;
  /** PROJECTION_BATCH_SIZE: events a projection applies and writes with its checkpoint in one go. */
  readonly projectionBatchSize: number;
  /** PROJECTION_BUSY_PAUSE_MS: while requests are in flight, the embedded projection waits this long between batches. */
  readonly projectionBusyPauseMs: number;
  /** ANALYTICS_MAX_ROWS: most rows `POST /analytics/query` returns. */
  readonly analyticsMaxRows: number;
  /** ANALYTICS_MAX_TIME_MS: an analyst's pipeline is abandoned after this. */
  readonly analyticsMaxTimeMs: number;
  /** ANALYTICS_MAX_BYTES: an analyst's answer larger than this is refused (QUERY_TOO_LARGE). */
  readonly analyticsMaxBytes: number;
  /** ANALYTICS_WORKERS: worker threads running embedded analyst pipelines, at most this many at once. */
  readonly analyticsWorkers: number;
  /** ANALYTICS_MAX_MEMORY_MB: heap cap of each of those workers (QUERY_TOO_LARGE past it). */
  readonly analyticsMaxMemoryMb: number;
  /** REJECTION_FLUSH_MS: how often refused-purchase counts are written to the `rejections` read model. */
  readonly rejectionFlushMs: number;
  /**
   * WORKER: 'embedded' (the default) runs the sagas and the projections inside the api process; 'external' leaves
   * them to `npm run worker`, a process of its own on the same store.
   */
  readonly worker: WorkerMode;
  /**
   * WORKER_LEASE_MS: how long a worker's job lease lasts unless renewed. Several `npm run worker` may run: each job
   * runs on one of them, and a standby takes it over within this of the holder's crash.
   */
  readonly workerLeaseMs: number;
  /**
   * SHARD_LEASE_MS: with several api replicas on one store (EVENTSTORE_URL and REDIS_URL set), each shard's writer
   * lives on one replica under a lease in Redis; a dead replica's shards move within about this.
   */
  readonly shardLeaseMs: number;
  /** Tests inject an in-memory event store; then the saga checkpoints stay in memory too. */
  readonly inMemoryStore?: boolean;
  readonly eventStoreUrl?: string;
  readonly redisUrl?: string;
  readonly mongoUrl?: string;
}

/**
 * An identity provider whose RS256/ES256 tokens are accepted beside the HS256 ones of JWT_SECRET: its key set
 * (JWT_JWKS_URL), and the issuer and audience its tokens must name — without both, a token the same provider issued
 * for any other application would be accepted here.
 */
export interface JwksConfig {
  readonly url: string;
  /** JWT_ISSUER: the `iss` every token must carry. */
  readonly issuer: string;
  /** JWT_AUDIENCE: comma-separated; a token's `aud` must name one of them. */
  readonly audience: readonly string[];
  /** JWT_JWKS_COOLDOWN_MS: a token naming an unknown `kid` refetches the set at most this often. */
  readonly refreshCooldownMs: number;
  /** JWT_JWKS_MAX_AGE_MS: the set is refetched in the background once it is this old. */
  readonly maxAgeMs: number;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * JWT_JWKS_URL with JWT_ISSUER and JWT_AUDIENCE, all or none. The key set decides which signatures are genuine, so it
 * is fetched over HTTPS (plain HTTP only from this machine, for a local provider or a test).
 */
const jwksConfig = (env: NodeJS.ProcessEnv): JwksConfig | undefined => {
  const raw = optional(env, 'JWT_JWKS_URL');
  const issuer = optional(env, 'JWT_ISSUER');
  const audience = optional(env, 'JWT_AUDIENCE');
  if (raw === undefined) {
    if (issuer !== undefined || audience !== undefined) {
      throw new ConfigError('JWT_ISSUER and JWT_AUDIENCE apply to the tokens of JWT_JWKS_URL: set JWT_JWKS_URL too, or unset them');
    }
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('JWT_JWKS_URL must be an https:// URL of the identity provider\'s key set (JWKS), got a value that is not a URL');
  }
  const local = url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);
  if (url.protocol !== 'https:' && !local) {
    throw new ConfigError(`JWT_JWKS_URL must be an https:// URL (http:// only on localhost), got a ${url.protocol}// URL`);
  }
  if (issuer === undefined) throw new ConfigError("JWT_ISSUER must be set with JWT_JWKS_URL: the `iss` the identity provider's tokens carry");
  const audiences = (audience ?? '')
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
  if (audiences.length === 0) throw new ConfigError('JWT_AUDIENCE must be set with JWT_JWKS_URL: the `aud` (one, or several comma-separated) tokens for this api carry');
  return {
    url: url.href,
    issuer,
    audience: audiences,
    refreshCooldownMs: int(env, 'JWT_JWKS_COOLDOWN_MS', 30_000, 1000, 3_600_000),
    maxAgeMs: int(env, 'JWT_JWKS_MAX_AGE_MS', 600_000, 10_000, 86_400_000),
  };
};

export const WORKER_MODES = ['embedded', 'external'] as const;
export type WorkerMode = (typeof WORKER_MODES)[number];

export class ConfigError extends Error {}

const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/** One proxy entry: an address, an address/prefix within its family's length, or one of proxy-addr's range names. */
const isProxyEntry = (entry: string): boolean => {
  if (PROXY_RANGE_NAMES.includes(entry)) return true;
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
};

/**
 * TRUST_PROXY as a list. "Trust everyone" (`true`, `*`) is refused: behind no proxy, or beside one, any client could
 * then write its own X-Forwarded-For and pass for whoever it likes — per-IP limits and the IP blacklist would be void.
 */
const trustedProxies = (env: NodeJS.ProcessEnv): readonly string[] => {
  const raw = env.TRUST_PROXY?.trim();
  if (raw === undefined || raw === '' || /^(off|false|0)$/i.test(raw)) return [];
  const entries = raw.split(',').map((entry) => entry.trim().toLowerCase());
  const bad = entries.find((entry) => !isProxyEntry(entry));
  if (bad !== undefined) {
    throw new ConfigError(
      `TRUST_PROXY must be off or a comma-separated list of proxy addresses, CIDR ranges, loopback, linklocal or uniquelocal (never "trust everyone"), got "${bad}"`,
    );
  }
  return entries;
};

/** Which event store EVENTSTORE_URL selects: unset is the embedded SQLite store in DATA_DIR. */
export type EventStoreKind = 'sqlite' | 'postgres' | 'esdb';

/**
 * Reads EVENTSTORE_URL's scheme: the one place that decides which adapter a URL means (esdb://, esdb+discover://,
 * kurrentdb:// and kurrent:// are EventStoreDB/KurrentDB). Anything else is refused: never a silent fallback to SQLite.
 */
export const eventStoreKind = (url: string | undefined): EventStoreKind => {
  if (url === undefined) return 'sqlite';
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url.trim())?.[1]?.toLowerCase();
  if (scheme === 'postgres' || scheme === 'postgresql') return 'postgres';
  if (scheme !== undefined && /^(esdb|kurrentdb|kurrent)(\+discover)?$/.test(scheme)) return 'esdb';
  // Only the scheme is repeated: the rest of a URL may hold a password.
  const got = scheme === undefined ? 'a value with no scheme://' : `a ${scheme}:// URL`;
  throw new ConfigError(`EVENTSTORE_URL must be a postgres://, postgresql://, esdb:// or kurrentdb:// URL (or unset for SQLite in DATA_DIR), got ${got}`);
};

const int = (env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number => {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name} must be an integer in ${min}..${max}, got "${raw}"`);
  return n;
};

const flag = (env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean => {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'on', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'off', 'no'].includes(raw)) return false;
  throw new ConfigError(`${name} must be on/off (1/0), got "${raw}"`);
};

const share = (env: NodeJS.ProcessEnv, name: string, fallback: number): number => {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new ConfigError(`${name} must be a number in 0..1, got "${raw}"`);
  return n;
};

const oneOf = <T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[], fallback: T): T => {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = allowed.find((a) => a === raw.toLowerCase());
  if (value === undefined) throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
  return value;
};

/**
 * Generous: buyers behind one carrier-grade NAT share an address, and a browser opens up to 6 connections per host; the
 * benchmark's open loop alone may open 512 from one host (bench/support/load.ts), the e2e and chaos suites up to a few
 * hundred. What it stops is one client holding thousands of sockets.
 */
const DEFAULT_MAX_CONNECTIONS_PER_IP = 1024;

const optional = (env: NodeJS.ProcessEnv, name: string): string | undefined => (env[name] === '' ? undefined : env[name]);

/** HMAC keys shorter than the hash's output (32 bytes for SHA-256) are weaker than the algorithm (RFC 7518 §3.2). */
export const MIN_SECRET_BYTES = 32;

/**
 * A key the operator gives, or in demo mode one generated for this run. Outside demo mode a missing or short key
 * stops the start: a random one would make every token or payment fail, a short one is guessable offline.
 */
const secret = (env: NodeJS.ProcessEnv, name: string, demo: boolean): string | undefined => {
  const value = optional(env, name);
  if (demo) return value;
  if (value === undefined) throw new ConfigError(`${name} must be set (at least ${MIN_SECRET_BYTES} bytes) when DEMO=0`);
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes < MIN_SECRET_BYTES) throw new ConfigError(`${name} must be at least ${MIN_SECRET_BYTES} bytes when DEMO=0, got ${bytes}`);
  return value;
};

/**
 * The environment of a process: 'api' (the default) or 'worker'. The worker verifies no token and no webhook, so it
 * does not ask for JWT_SECRET or PAYMENT_WEBHOOK_SECRET (it gets unusable random ones); every other variable means
 * the same to both.
 */
export const loadConfig = (env: NodeJS.ProcessEnv = process.env, role: 'api' | 'worker' = 'api'): AppConfig => {
  const synchronous = (env.SQLITE_SYNCHRONOUS ?? 'FULL').toUpperCase();
  if (synchronous !== 'FULL' && synchronous !== 'NORMAL' && synchronous !== 'OFF') {
    throw new ConfigError(`SQLITE_SYNCHRONOUS must be FULL, NORMAL or OFF, got "${synchronous}"`);
  }
  const demo = flag(env, 'DEMO', false);
  const jwtSecret = role === 'worker' ? undefined : secret(env, 'JWT_SECRET', demo);
  const paymentWebhookSecret = role === 'worker' ? undefined : secret(env, 'PAYMENT_WEBHOOK_SECRET', demo);
  const jwtMaxTtlSeconds = int(env, 'JWT_MAX_TTL_S', 24 * 3600, 60, 365 * 24 * 3600);
  const devTokenTtlSeconds = int(env, 'DEV_TOKEN_TTL_S', 3600, 60, 7 * 24 * 3600);
  if (devTokenTtlSeconds > jwtMaxTtlSeconds) {
    throw new ConfigError(`DEV_TOKEN_TTL_S (${devTokenTtlSeconds}) must not exceed JWT_MAX_TTL_S (${jwtMaxTtlSeconds}): demo tokens would be refused`);
  }
  const jwks = role === 'worker' ? undefined : jwksConfig(env);
  const eventStoreUrl = optional(env, 'EVENTSTORE_URL');
  eventStoreKind(eventStoreUrl);
  const redisUrl = optional(env, 'REDIS_URL');
  const mongoUrl = optional(env, 'MONGO_URL');
  return {
    port: int(env, 'PORT', 3000, 0, 65535),
    host: env.HOST ?? '127.0.0.1',
    dataDir: path.resolve(env.DATA_DIR ?? './data'),
    demo,
    jwtSecret: jwtSecret ?? randomBytes(32).toString('base64url'),
    jwtSecretGenerated: jwtSecret === undefined,
    paymentWebhookSecret: paymentWebhookSecret ?? randomBytes(32).toString('base64url'),
    jwtMaxTtlSeconds,
    accessLimits: flag(env, 'ACCESS_LIMITS', true),
    logLevel: env.LOG_LEVEL ?? 'info',
    logFormat: oneOf(env, 'LOG_FORMAT', LOG_FORMATS, 'auto'),
    sqliteSynchronous: synchronous,
    sqliteCoalesceAppends: flag(env, 'SQLITE_COALESCE_APPENDS', true),
    shardMaxBatch: int(env, 'SHARD_MAX_BATCH', 256, 1, 10_000),
    purchaseTokenTtlMs: int(env, 'PURCHASE_TOKEN_TTL_MS', 120_000, 1000, 120_000),
    bodyLimitBytes: int(env, 'BODY_LIMIT_BYTES', 16 * 1024, 256, 1024 * 1024),
    requestTimeoutMs: int(env, 'REQUEST_TIMEOUT_MS', 10_000, 1000, 600_000),
    keepAliveTimeoutMs: int(env, 'KEEP_ALIVE_TIMEOUT_MS', 5000, 1000, 600_000),
    maxConnectionsPerIp: int(env, 'MAX_CONNECTIONS_PER_IP', DEFAULT_MAX_CONNECTIONS_PER_IP, 0, 1_000_000),
    trustProxy: trustedProxies(env),
    devTokenTtlSeconds,
    shutdownTimeoutMs: int(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 100, 120_000),
    sweepIntervalMs: int(env, 'SWEEP_INTERVAL_MS', 1000, 10, 60_000),
    compensationSettleMs: int(env, 'COMPENSATION_SETTLE_MS', 5000, 100, 600_000),
    freqPerUserPerS: int(env, 'FREQ_PER_USER_PER_S', 5, 1, 1_000_000),
    freqPerIpPerS: int(env, 'FREQ_PER_IP_PER_S', 20, 1, 1_000_000),
    admissionPerS: int(env, 'ADMISSION_PER_S', 5000, 1, 10_000_000),
    hotspotThrottle: flag(env, 'HOTSPOT_THROTTLE', false),
    hotspotFactor: int(env, 'HOTSPOT_FACTOR', 10, 2, 1_000_000),
    hotspotFloorPerS: int(env, 'HOTSPOT_FLOOR_PER_S', 5, 1, 1_000_000),
    shedEventLoopDelayMs: int(env, 'SHED_EVENT_LOOP_DELAY_MS', 200, 10, 60_000),
    shedMaxInFlight: int(env, 'SHED_MAX_IN_FLIGHT', 2000, 1, 1_000_000),
    degradationDropShare: share(env, 'DEGRADATION_DROP_SHARE', 0.5),
    degradationTightenFactor: int(env, 'DEGRADATION_TIGHTEN_FACTOR', 2, 1, 1000),
    powDifficulty: int(env, 'POW_DIFFICULTY', 100_000, 1, 100_000_000),
    powMinSolveMs: int(env, 'POW_MIN_SOLVE_MS', 300, 0, 60_000),
    waitingRoomTicketsPerIp: int(env, 'WAITING_ROOM_TICKETS_PER_IP', 50, 1, 1_000_000),
    waitingRoomAdaptive: flag(env, 'WAITING_ROOM_ADAPTIVE', true),
    waitingRoomMaxLoopDelayMs: int(env, 'WAITING_ROOM_MAX_LOOP_DELAY_MS', 100, 1, 60_000),
    waitingRoomMaxAppendMs: int(env, 'WAITING_ROOM_MAX_APPEND_MS', 100, 1, 60_000),
    waitingRoomMaxSagaBacklog: int(env, 'WAITING_ROOM_MAX_SAGA_BACKLOG', 5000, 1, 100_000_000),
    projectionBatchSize: int(env, 'PROJECTION_BATCH_SIZE', 500, 1, 100_000),
    projectionBusyPauseMs: int(env, 'PROJECTION_BUSY_PAUSE_MS', 100, 0, 10_000),
    analyticsMaxRows: int(env, 'ANALYTICS_MAX_ROWS', 1000, 1, 100_000),
    analyticsMaxTimeMs: int(env, 'ANALYTICS_MAX_TIME_MS', 2000, 10, 60_000),
    analyticsMaxBytes: int(env, 'ANALYTICS_MAX_BYTES', 4 * 1024 * 1024, 1024, 256 * 1024 * 1024),
    analyticsWorkers: int(env, 'ANALYTICS_WORKERS', 1, 1, 64),
    analyticsMaxMemoryMb: int(env, 'ANALYTICS_MAX_MEMORY_MB', 256, 16, 16 * 1024),
    rejectionFlushMs: int(env, 'REJECTION_FLUSH_MS', 1000, 50, 60_000),
    worker: oneOf(env, 'WORKER', WORKER_MODES, 'embedded'),
    workerLeaseMs: int(env, 'WORKER_LEASE_MS', 5000, 300, 600_000),
    shardLeaseMs: int(env, 'SHARD_LEASE_MS', 3000, 300, 600_000),
    ...(jwks ? { jwks } : {}),
    ...(eventStoreUrl ? { eventStoreUrl } : {}),
    ...(redisUrl ? { redisUrl } : {}),
    ...(mongoUrl ? { mongoUrl } : {}),
    ...(optional(env, 'WORKER_METRICS_PORT') === undefined ? {} : { workerMetricsPort: int(env, 'WORKER_METRICS_PORT', 0, 0, 65535) }),
  };
};

export const APP_CONFIG = Symbol('APP_CONFIG');
