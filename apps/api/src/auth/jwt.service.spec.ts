import { createHmac } from 'node:crypto';
import { createSigner } from 'fast-jwt';
import { loadConfig } from '@flash/runtime';
import { ApiError } from '../http/error-catalogue';
import { JwtService, Principal } from './jwt.service';

const SECRET = 'unit-test-secret-unit-test-secret';
const service = (env: Record<string, string> = {}): JwtService =>
  new JwtService(loadConfig({ JWT_SECRET: SECRET, PAYMENT_WEBHOOK_SECRET: 'unit-test-webhook-unit-test-webhook', ...env }));
/** A token whose payload is exactly this JSON text (no exp or iat added), signed with the service's key. */
const signText = (payload: string): string => {
  const input = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.${Buffer.from(payload).toString('base64url')}`;
  return `Bearer ${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
};
const signClaims = (claims: Record<string, unknown>): string => signText(JSON.stringify(claims));
const sign = (payload: Record<string, unknown>, expiresInMs = 60_000, key = SECRET): string =>
  `Bearer ${createSigner({ key, algorithm: 'HS256', expiresIn: expiresInMs })(payload)}`;

/** An HS256 (or remembered) token is answered at once, never through a promise: the hot path does not wait. */
const atOnce = (verified: Principal | Promise<Principal>): Principal => {
  if (verified instanceof Promise) throw new Error('answered through a promise');
  return verified;
};

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    return error instanceof ApiError ? error.code : 'not an ApiError';
  }
  return undefined;
};

describe('JwtService.verify', () => {
  it('returns the principal of a valid token, the same from the cache the second time', () => {
    const jwt = service();
    const token = sign({ sub: 'u1', roles: ['admin', 'unknown-role'] });
    expect(jwt.verify(token)).toEqual({ userId: 'u1', roles: ['admin'] });
    expect(jwt.verify(token)).toEqual({ userId: 'u1', roles: ['admin'] });
  });

  it('refuses a token signed with another key, or altered, even after the genuine one was remembered', () => {
    const jwt = service();
    const genuine = sign({ sub: 'u1' });
    atOnce(jwt.verify(genuine));
    expect(codeOf(() => jwt.verify(sign({ sub: 'u1' }, 60_000, 'another-secret-another-secret')))).toBe('UNAUTHENTICATED');
    const [header, , signature] = genuine.slice('Bearer '.length).split('.');
    const forgedPayload = Buffer.from(JSON.stringify({ sub: 'admin', roles: ['admin'], exp: 9e9 })).toString('base64url');
    expect(codeOf(() => jwt.verify(`Bearer ${String(header)}.${forgedPayload}.${String(signature)}`))).toBe('UNAUTHENTICATED');
  });

  it('stops accepting a remembered token once its exp has passed', () => {
    jest.useFakeTimers({ now: Date.now() });
    try {
      const jwt = service();
      const token = sign({ sub: 'u1' }, 5_000);
      expect(atOnce(jwt.verify(token)).userId).toBe('u1');
      jest.setSystemTime(Date.now() + 10_000);
      expect(codeOf(() => jwt.verify(token))).toBe('UNAUTHENTICATED');
    } finally {
      jest.useRealTimers();
    }
  });

  it('refuses missing, malformed and subject-less tokens', () => {
    const jwt = service();
    expect(codeOf(() => jwt.verify(undefined))).toBe('UNAUTHENTICATED');
    expect(codeOf(() => jwt.verify('Basic abc'))).toBe('UNAUTHENTICATED');
    expect(codeOf(() => jwt.verify('Bearer not.a.jwt'))).toBe('UNAUTHENTICATED');
    expect(codeOf(() => jwt.verify(sign({ roles: ['admin'] })))).toBe('UNAUTHENTICATED');
    expect(codeOf(() => jwt.verify(sign({ sub: 'has space' })))).toBe('UNAUTHENTICATED');
  });

  it('takes the scheme in any case (RFC 7235), and nothing but Bearer', () => {
    const jwt = service();
    const token = sign({ sub: 'u1' }).slice('Bearer '.length);
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) expect(atOnce(jwt.verify(`${scheme} ${token}`)).userId).toBe('u1');
    expect(atOnce(jwt.verify(`bearer   ${token}`)).userId).toBe('u1');
    for (const header of [`Bearer${token}`, `Bearerx ${token}`, `Basic ${token}`, 'bearer ', 'bearer']) {
      expect(codeOf(() => jwt.verify(header))).toBe('UNAUTHENTICATED');
    }
  });

  it('refuses a token that lives longer than JWT_MAX_TTL_S: exp of 10^12 s, 1e400 (Infinity), or far past its iat', () => {
    const jwt = service();
    const now = Math.floor(Date.now() / 1000);
    expect(codeOf(() => jwt.verify(signClaims({ sub: 'u1', exp: 1e12 })))).toBe('UNAUTHENTICATED');
    // JSON.parse reads 1e400 as Infinity: never a date.
    expect(codeOf(() => jwt.verify(signText('{"sub":"u1","exp":1e400}')))).toBe('UNAUTHENTICATED');
    expect(codeOf(() => jwt.verify(signClaims({ sub: 'u1', exp: now + 86_400 + 60 })))).toBe('UNAUTHENTICATED');
    expect(codeOf(() => jwt.verify(signClaims({ sub: 'u1', iat: now - 600, exp: now + 86_400 - 60 })))).toBe('UNAUTHENTICATED');
    // An iat in the future does not stretch the lifetime: it counts from now.
    expect(codeOf(() => jwt.verify(signClaims({ sub: 'u1', iat: now + 86_400, exp: now + 86_400 + 60 })))).toBe('UNAUTHENTICATED');
    expect(codeOf(() => jwt.verify(signClaims({ sub: 'u1', iat: 'yesterday', exp: now + 60 })))).toBe('UNAUTHENTICATED');
    // Within the day: accepted, with or without iat.
    expect(atOnce(jwt.verify(signClaims({ sub: 'u2', exp: now + 86_400 - 60 }))).userId).toBe('u2');
    expect(atOnce(jwt.verify(signClaims({ sub: 'u3', iat: now - 60, exp: now + 86_400 - 120 }))).userId).toBe('u3');
  });

  it('caps the lifetime at JWT_MAX_TTL_S as configured', () => {
    const now = Math.floor(Date.now() / 1000);
    const jwt = service({ JWT_MAX_TTL_S: '600', DEV_TOKEN_TTL_S: '300' });
    expect(atOnce(jwt.verify(signClaims({ sub: 'u1', exp: now + 500 }))).userId).toBe('u1');
    expect(codeOf(() => jwt.verify(signClaims({ sub: 'u1', exp: now + 700 })))).toBe('UNAUTHENTICATED');
  });

  it('keeps verifying correctly past the cache size (oldest entries forgotten, never wrong)', () => {
    const jwt = service();
    const tokens = Array.from({ length: 10_050 }, (_, i) => sign({ sub: `u${i}` }));
    tokens.forEach((t, i) => expect(atOnce(jwt.verify(t)).userId).toBe(`u${i}`));
    expect(atOnce(jwt.verify(tokens[0])).userId).toBe('u0');
    expect(atOnce(jwt.verify(tokens[10_049])).userId).toBe('u10049');
  });
});
