import { Inject, Injectable } from '@nestjs/common';
import { createSigner } from 'fast-jwt';
import { APP_CONFIG, AppConfig } from '@flash/runtime';
import { ApiError } from '../http/error-catalogue';
import { createHs256Verifier } from './hs256-verifier';

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

/**
 * HS256 bearer tokens, signed by fast-jwt (dev tokens) and verified by createHs256Verifier; any other algorithm,
 * `none` included, is refused.
 * Verified tokens are remembered by their exact text, first in first out, until their `exp`: the lookup is a Map
 * probe on a string V8 hashes natively, where fast-jwt's own cache hashes each token with SHA-256 first, a cost paid
 * on every miss, and a crowd of first-time buyers is all misses.
 */
@Injectable()
export class JwtService {
  private readonly verifier: (token: string) => Record<string, unknown> | undefined;
  private readonly signer: (payload: Record<string, unknown>) => string;
  private readonly verified = new Map<string, Verified>();

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.verifier = createHs256Verifier(config.jwtSecret, config.jwtMaxTtlSeconds);
    this.signer = createSigner({ key: config.jwtSecret, algorithm: 'HS256', expiresIn: config.devTokenTtlSeconds * 1000 });
  }

  verify(authorization: string | undefined): Principal {
    const token = bearerToken(authorization);
    if (token === undefined) throw new ApiError('UNAUTHENTICATED', 'a Bearer token is required');
    const known = this.verified.get(token);
    if (known !== undefined) {
      if (known.expiresAt > Date.now()) return known.principal;
      this.verified.delete(token);
    }
    const claims = this.verifier(token);
    if (claims === undefined) throw new ApiError('UNAUTHENTICATED', 'the token is invalid or expired');
    const { sub, roles, exp } = claims;
    if (typeof sub !== 'string' || !USER_ID_PATTERN.test(sub)) throw new ApiError('UNAUTHENTICATED', 'the token subject is not a valid user id');
    if (roles !== undefined && !(Array.isArray(roles) && roles.every((r) => typeof r === 'string'))) {
      throw new ApiError('UNAUTHENTICATED', 'roles must be an array of strings');
    }
    const principal: Principal = { userId: sub, roles: ((roles) ?? []).filter((r): r is Role => (ROLES as string[]).includes(r)) };
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
