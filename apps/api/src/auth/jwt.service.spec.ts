import { createSigner } from 'fast-jwt';
import { loadConfig } from '../config';
import { ApiError } from '../http/error-catalogue';
import { JwtService } from './jwt.service';

const SECRET = 'unit-test-secret-unit-test-secret';
const service = (): JwtService => new JwtService(loadConfig({ JWT_SECRET: SECRET, NODE_ENV: 'test' }));
const sign = (payload: Record<string, unknown>, expiresInMs = 60_000, key = SECRET): string =>
  `Bearer ${createSigner({ key, algorithm: 'HS256', expiresIn: expiresInMs })(payload)}`;

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
    jwt.verify(genuine);
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
      expect(jwt.verify(token).userId).toBe('u1');
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

  it('keeps verifying correctly past the cache size (oldest entries forgotten, never wrong)', () => {
    const jwt = service();
    const tokens = Array.from({ length: 10_050 }, (_, i) => sign({ sub: `u${i}` }));
    tokens.forEach((t, i) => expect(jwt.verify(t).userId).toBe(`u${i}`));
    expect(jwt.verify(tokens[0]).userId).toBe('u0');
    expect(jwt.verify(tokens[10_049]).userId).toBe('u10049');
  });
});
