import { Inject, Injectable } from '@nestjs/common';
import { createSigner, createVerifier } from 'fast-jwt';
import { APP_CONFIG, AppConfig } from '../config';
import { ApiError } from '../http/error-catalogue';

export type Role = 'admin' | 'analyst';
export const ROLES: readonly Role[] = ['admin', 'analyst'];
export const USER_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

export interface Principal {
  readonly userId: string;
  readonly roles: readonly Role[];
}

/** HS256 bearer tokens through fast-jwt; any other algorithm, `none` included, is refused by the verifier. */
@Injectable()
export class JwtService {
  private readonly verifier: (token: string) => Record<string, unknown>;
  private readonly signer: (payload: Record<string, unknown>) => string;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.verifier = createVerifier({ key: config.jwtSecret, algorithms: ['HS256'], requiredClaims: ['sub', 'exp'], cache: 10_000 });
    this.signer = createSigner({ key: config.jwtSecret, algorithm: 'HS256', expiresIn: config.devTokenTtlSeconds * 1000 });
  }

  verify(authorization: string | undefined): Principal {
    if (!authorization?.startsWith('Bearer ')) throw new ApiError('UNAUTHENTICATED', 'a Bearer token is required');
    let claims: Record<string, unknown>;
    try {
      claims = this.verifier(authorization.slice('Bearer '.length).trim());
    } catch {
      throw new ApiError('UNAUTHENTICATED', 'the token is invalid or expired');
    }
    const { sub, roles } = claims;
    if (typeof sub !== 'string' || !USER_ID_PATTERN.test(sub)) throw new ApiError('UNAUTHENTICATED', 'the token subject is not a valid user id');
    if (roles !== undefined && !(Array.isArray(roles) && roles.every((r) => typeof r === 'string'))) {
      throw new ApiError('UNAUTHENTICATED', 'roles must be an array of strings');
    }
    return { userId: sub, roles: ((roles) ?? []).filter((r): r is Role => (ROLES as string[]).includes(r)) };
  }

  sign(userId: string, roles: readonly Role[] = []): string {
    return this.signer({ sub: userId, ...(roles.length > 0 ? { roles } : {}) });
  }
}
