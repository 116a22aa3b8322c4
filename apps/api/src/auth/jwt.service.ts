import { Inject, Injectable, Optional } from '@nestjs/common';
import { createSigner } from 'fast-jwt';
import { APP_CONFIG, AppConfig } from '@flash/runtime';
import { ApiError } from '../http/error-catalogue';
import { createHs256Verifier } from './hs256-verifier';
import { JwksKeys } from './jwks-keys';
import { createJwksVerifier, PROVIDER_ALGORITHMS } from './jwks-verifier';

/** The identity provider's key set, provided when JWT_JWKS_URL is set (app.module.ts). */
export const JWKS_KEYS = Symbol('JWKS_KEYS');

export type Role = 'admin' | 'analyst';
export const ROLES: readonly Role[] = ['admin', 'analyst'];
export const USER_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

export interface Principal {
  readonly userId: string;
  readonly roles: readonly Role[];
}

const BEARER = 'bearer ';

/** The token of `Authorization: Bearer <token>`; the scheme is case-insensitive (RFC 7235 §2.1), `bearer` included. */
export const bearerToken = (authorization: string | undefined): string | undefined => {
  if (authorization === undefined) return undefined;
  if (!authorization.startsWith('Bearer ') && authorization.slice(0, BEARER.length).toLowerCase() !== BEARER) return undefined;
  return authorization.slice(BEARER.length).trim();
};

/** How many verified tokens are remembered (a buyer sends several requests during a sale with the same token). */
const CACHE_SIZE = 10_000;

interface Verified {
  readonly principal: Principal;
  /** Epoch ms after which the token is expired (its `exp`). */
  readonly expiresAt: number;
}

/** A token's header segment → its `alg`: the headers of one issuer are one text, so the map stays small. */
const ALGORITHMS_KEPT = 64;

const algorithmOf = (headerSegment: string): string | undefined => {
  try {
    const header: unknown = JSON.parse(Buffer.from(headerSegment, 'base64url').toString('utf8'));
    const alg = (header as { alg?: unknown } | null)?.alg;
    return typeof alg === 'string' ? alg : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Bearer tokens of two kinds, told apart by their header's `alg` before any key is touched, so a key of one kind
 * never checks a token of the other (no algorithm confusion):
 * - HS256, signed with JWT_SECRET (dev tokens, signed by fast-jwt), verified by createHs256Verifier on the hot path;
 * - RS256 and ES256 of the identity provider (JWT_JWKS_URL), verified by jose against its key set (jwks-verifier.ts).
 * Any other `alg`, `none` included, is refused. Both end in the same claims rules: `sub` a user id, `exp` required,
 * `roles` an array of strings of which the known ones count.
 * Verified tokens are remembered by their exact text, first in first out, until their `exp`: the lookup is a Map
 * probe on a string V8 hashes natively, where fast-jwt's own cache hashes each token with SHA-256 first, a cost paid
 * on every miss, and a crowd of first-time buyers is all misses. An HS256 or remembered token is answered at once; a
 * provider's token seen for the first time is answered asynchronously (its key may have to be fetched).
 */
@Injectable()
export class JwtService {
  private readonly hs256: (token: string) => Record<string, unknown> | undefined;
  private readonly provider: ((token: string) => Promise<Record<string, unknown> | undefined>) | undefined;
  private readonly signer: (payload: Record<string, unknown>) => string;
  private readonly verified = new Map<string, Verified>();
  private readonly algorithms = new Map<string, string | undefined>();

  constructor(@Inject(APP_CONFIG) config: AppConfig, @Optional() @Inject(JWKS_KEYS) providerKeys?: JwksKeys) {
    this.hs256 = createHs256Verifier(config.jwtSecret, config.jwtMaxTtlSeconds);
    this.signer = createSigner({ key: config.jwtSecret, algorithm: 'HS256', expiresIn: config.devTokenTtlSeconds * 1000 });
    const { jwks } = config;
    this.provider =
      jwks === undefined || providerKeys === undefined
        ? undefined
        : createJwksVerifier(providerKeys, { issuer: jwks.issuer, audience: jwks.audience, maxLifetimeS: config.jwtMaxTtlSeconds });
  }

  verify(authorization: string | undefined): Principal | Promise<Principal> {
    const token = bearerToken(authorization);
    if (token === undefined) throw new ApiError('UNAUTHENTICATED', 'a Bearer token is required');
    const known = this.verified.get(token);
    if (known !== undefined) {
      if (known.expiresAt > Date.now()) return known.principal;
      this.verified.delete(token);
    }
    const alg = this.algorithm(token);
    if (alg === 'HS256') return this.accept(token, this.hs256(token));
    if (this.provider !== undefined && (PROVIDER_ALGORITHMS as readonly string[]).includes(alg ?? '')) {
      return this.provider(token).then((claims) => this.accept(token, claims));
    }
    throw new ApiError('UNAUTHENTICATED', 'the token is invalid or expired');
  }

  private algorithm(token: string): string | undefined {
    const dot = token.indexOf('.');
    if (dot <= 0) return undefined;
    const segment = token.slice(0, dot);
    if (this.algorithms.has(segment)) return this.algorithms.get(segment);
    const alg = algorithmOf(segment);
    if (this.algorithms.size >= ALGORITHMS_KEPT) this.algorithms.clear();
    this.algorithms.set(segment, alg);
    return alg;
  }

  /** The claims rules both kinds of token share, once the signature and dates are verified (undefined: they are not). */
  private accept(token: string, claims: Record<string, unknown> | undefined): Principal {
    if (claims === undefined) throw new ApiError('UNAUTHENTICATED', 'the token is invalid or expired');
    const { sub, roles, exp } = claims;
    if (typeof sub !== 'string' || !USER_ID_PATTERN.test(sub)) throw new ApiError('UNAUTHENTICATED', 'the token subject is not a valid user id');
    if (roles !== undefined && !(Array.isArray(roles) && roles.every((r) => typeof r === 'string'))) {
      throw new ApiError('UNAUTHENTICATED', 'roles must be an array of strings');
    }
    const principal: Principal = { userId: sub, roles: (roles ?? []).filter((r): r is Role => (ROLES as string[]).includes(r)) };
    // The verifier has checked `exp` (a required claim, in seconds) against the clock.
    if (typeof exp === 'number') this.remember(token, { principal, expiresAt: exp * 1000 });
    return principal;
  }

  private remember(token: string, verified: Verified): void {
    if (this.verified.size >= CACHE_SIZE) {
      const oldest = this.verified.keys().next();
      if (oldest.done !== true) this.verified.delete(oldest.value);
    }
    this.verified.set(token, verified);
  }

  sign(userId: string, roles: readonly Role[] = []): string {
    return this.signer({ sub: userId, ...(roles.length > 0 ? { roles } : {}) });
  }
}
