import { createLocalJWKSet, CryptoKey, FlattenedJWSInput, JSONWebKeySet, JWSHeaderParameters } from 'jose';
import type { Logger } from '@flash/runtime';

/** The identity provider's key set could not be had (never fetched, or its fetch failed): a token cannot be checked. */
export class KeysUnavailable extends Error {}

export interface JwksSettings {
  readonly url: string;
  /** A token naming an unknown `kid` refetches the set at most this often. */
  readonly refreshCooldownMs: number;
  /** The set is refetched in the background once it is this old; a failed fetch keeps the keys already held. */
  readonly maxAgeMs: number;
  /** A fetch that has not answered by then has failed. */
  readonly timeoutMs?: number;
}

/** Fetches the key set's JSON; tests give their own. */
export type FetchKeySet = (url: string, signal: AbortSignal) => Promise<unknown>;

const fetchKeySet: FetchKeySet = async (url, signal) => {
  // No redirect: the set must come from the URL configured, not wherever an answer points.
  const response = await fetch(url, { signal, redirect: 'error', headers: { accept: 'application/jwk-set+json, application/json' } });
  if (response.status !== 200) throw new Error(`the key set answered ${response.status}`);
  return response.json();
};

const isKeySet = (value: unknown): value is JSONWebKeySet =>
  typeof value === 'object' && value !== null && Array.isArray((value as { keys?: unknown }).keys) && (value as { keys: unknown[] }).keys.every((k) => typeof k === 'object' && k !== null);

type KeyLookup = ReturnType<typeof createLocalJWKSet>;

/**
 * The public keys of an identity provider (its JWKS), held in memory and refreshed: in the background once older than
 * `maxAgeMs` (the keys held keep serving meanwhile, and if the fetch fails), and at once when a token names a `kid`
 * the set does not have (the provider rotated its keys) — that refresh at most once per `refreshCooldownMs`, so
 * tokens with made-up kids cannot turn the api into a client hammering the provider. Concurrent needs share one
 * fetch. Which key fits a token (kid, key type, use, alg) is jose's local key set's choice.
 */
export class JwksKeys {
  private lookup: KeyLookup | undefined;
  private kids = new Set<string>();
  private loadedAt = Number.NEGATIVE_INFINITY;
  private failedAt = Number.NEGATIVE_INFINITY;
  private unknownKidRefreshAt = Number.NEGATIVE_INFINITY;
  private pending: Promise<void> | undefined;

  constructor(
    private readonly settings: JwksSettings,
    private readonly logger: Logger,
    private readonly fetchSet: FetchKeySet = fetchKeySet,
    private readonly now: () => number = Date.now,
  ) {}

  /** Fetches the set now, so that the first token does not wait for it; a failure is logged and retried on use. */
  start(): void {
    this.refresh('start').catch(() => undefined);
  }

  /** jose's key resolver for `jwtVerify`. Throws KeysUnavailable when there are no keys to check against. */
  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> => {
    const now = this.now();
    if (this.lookup === undefined) {
      // Never loaded: a fetch under way is waited for; a failed one is retried at most once per cooldown.
      if (this.pending === undefined && now - this.failedAt < this.settings.refreshCooldownMs) throw new KeysUnavailable('no keys yet');
      await this.refresh('first token');
    } else if (now - this.loadedAt >= this.settings.maxAgeMs && this.pending === undefined && now - this.failedAt >= this.settings.refreshCooldownMs) {
      this.refresh('max age').catch(() => undefined);
    }
    const { kid } = header;
    if (kid !== undefined && !this.kids.has(kid)) {
      if (this.pending !== undefined) await this.pending.catch(() => undefined);
      if (!this.kids.has(kid) && now - this.unknownKidRefreshAt >= this.settings.refreshCooldownMs) {
        this.unknownKidRefreshAt = now;
        await this.refresh('unknown kid').catch(() => undefined);
      }
    }
    if (this.lookup === undefined) throw new KeysUnavailable('no keys yet');
    return this.lookup(header, token);
  };

  private refresh(reason: string): Promise<void> {
    this.pending ??= this.load(reason).finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async load(reason: string): Promise<void> {
    try {
      const set = await this.fetchSet(this.settings.url, AbortSignal.timeout(this.settings.timeoutMs ?? 5000));
      if (!isKeySet(set)) throw new Error('the answer is not a JSON Web Key Set');
      this.lookup = createLocalJWKSet(set);
      this.kids = new Set(set.keys.map((k) => k.kid).filter((kid): kid is string => typeof kid === 'string'));
      this.loadedAt = this.now();
      this.logger.info({ reason, keys: set.keys.length }, 'identity provider keys loaded');
    } catch (error) {
      this.failedAt = this.now();
      this.logger.warn({ reason, error: error instanceof Error ? error.message : String(error) }, 'identity provider keys could not be fetched; the keys held so far stay in use');
      throw new KeysUnavailable('the key set could not be fetched');
    }
  }
}
