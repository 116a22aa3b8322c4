import { jwtVerify } from 'jose';
import { ApiError } from '../http/error-catalogue';
import { JwksKeys, KeysUnavailable } from './jwks-keys';
import { livesTooLong } from './token-lifetime';

/** What an identity provider may sign with: asymmetric only. An HS256 token never reaches the provider's keys. */
export const PROVIDER_ALGORITHMS = ['RS256', 'ES256'] as const;

export interface ProviderRules {
  readonly issuer: string;
  readonly audience: readonly string[];
  /** JWT_MAX_TTL_S, the same cap as HS256 tokens (token-lifetime.ts). */
  readonly maxLifetimeS: number;
}

/**
 * Verifies an RS256 or ES256 token of the identity provider and returns its claims, or undefined: the signature
 * against the provider's key named by `kid` (jose), `iss` and `aud` as configured, `sub` and `exp` required, `nbf`
 * honoured, no clock tolerance, no `crit` extension understood, and the lifetime cap HS256 tokens have. When there
 * are no keys to check against (the provider unreachable since start), the answer is 503 NOT_READY: the client may
 * retry, its token may well be good.
 */
export const createJwksVerifier = (keys: JwksKeys, rules: ProviderRules): ((token: string, now?: number) => Promise<Record<string, unknown> | undefined>) => {
  const maxLifetimeMs = rules.maxLifetimeS * 1000;
  const options = { algorithms: [...PROVIDER_ALGORITHMS], issuer: rules.issuer, audience: [...rules.audience], requiredClaims: ['sub', 'exp'] };
  return async (token, now = Date.now()) => {
    try {
      const { payload } = await jwtVerify(token, keys.getKey, { ...options, currentDate: new Date(now) });
      return livesTooLong(payload as { exp: number }, now, maxLifetimeMs) ? undefined : payload;
    } catch (error) {
      if (error instanceof KeysUnavailable) throw new ApiError('NOT_READY', "the identity provider's keys are not available yet; retry", { retryAfterMs: 1000 });
      return undefined;
    }
  };
};
