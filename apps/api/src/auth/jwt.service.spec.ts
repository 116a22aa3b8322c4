import { createHmac } from 'node:crypto';
import { createSigner } from 'fast-jwt';
import { loadConfig } from '@flash/runtime';
import { ApiError } from '../http/error-catalogue';
import pino from 'pino';
import { providerKey, providerToken, publicJwk, signToken } from '../../../../test/support/identity-provider';
import { JwksKeys } from './jwks-keys';
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

describe('JwtService.verify with an identity provider (JWT_JWKS_URL)', () => {
  const RSA = providerKey('rsa-1', 'RS256');
  const EC = providerKey('ec-1', 'ES256');
  const ISSUER = 'https://idp.test/';
  const AUDIENCE = 'flash-sale';
  const env = { JWT_JWKS_URL: 'https://idp.test/jwks', JWT_ISSUER: ISSUER, JWT_AUDIENCE: `${AUDIENCE},other-api` };
  const withProvider = () => {
    const fetched = { count: 0 };
    const config = loadConfig({ JWT_SECRET: SECRET, PAYMENT_WEBHOOK_SECRET: 'unit-test-webhook-unit-test-webhook', ...env });
    const keys = new JwksKeys(config.jwks!, pino({ enabled: false }), async () => (fetched.count++, { keys: [publicJwk(RSA), publicJwk(EC)] }));
    return { jwt: new JwtService(config, keys), fetched };
  };
  const now = () => Math.floor(Date.now() / 1000);
  const claims = (extra: Record<string, unknown> = {}) => ({ sub: 'idp-user:7', iss: ISSUER, aud: AUDIENCE, exp: now() + 600, ...extra });
  const bearer = (token: string) => `Bearer ${token}`;
  const refusal = async (verified: () => unknown): Promise<string | undefined> => {
    try {
      await verified();
    } catch (error) {
      return error instanceof ApiError ? error.code : 'not an ApiError';
    }
    return undefined;
  };

  it('accepts RS256 and ES256 tokens signed by the keys of its set, with their roles, then answers them at once', async () => {
    const { jwt, fetched } = withProvider();
    const rs = bearer(providerToken(RSA, claims({ roles: ['admin'] })));
    const es = bearer(providerToken(EC, claims({ aud: ['someone-else', 'other-api'] })));
    expect(jwt.verify(rs)).toBeInstanceOf(Promise);
    expect(await jwt.verify(rs)).toEqual({ userId: 'idp-user:7', roles: ['admin'] });
    expect(await jwt.verify(es)).toEqual({ userId: 'idp-user:7', roles: [] });
    expect(atOnce(jwt.verify(rs)).roles).toEqual(['admin']);
    expect(fetched.count).toBe(1);
    // HS256 tokens of JWT_SECRET are still accepted, at once.
    expect(atOnce(jwt.verify(sign({ sub: 'u1' }))).userId).toBe('u1');
  });

  it('refuses an HS256 token whose key is the public key (PEM, DER or JWK text): never checked against it', async () => {
    const { jwt } = withProvider();
    const publicKeys = [
      RSA.publicKey.export({ type: 'spki', format: 'pem' }),
      RSA.publicKey.export({ type: 'pkcs1', format: 'pem' }),
      RSA.publicKey.export({ type: 'spki', format: 'der' }),
      JSON.stringify(publicJwk(RSA)),
      EC.publicKey.export({ type: 'spki', format: 'pem' }),
    ];
    for (const key of publicKeys) {
      const token = signToken({ alg: 'HS256', typ: 'JWT', kid: RSA.kid }, claims(), key);
      expect(await refusal(() => jwt.verify(bearer(token)))).toBe('UNAUTHENTICATED');
    }
  });

  it('refuses an RS256 or ES256 token whose signature is an HMAC of JWT_SECRET: never checked against it', async () => {
    const { jwt } = withProvider();
    for (const alg of ['RS256', 'ES256']) {
      const token = signToken({ alg: 'HS256', typ: 'JWT', kid: RSA.kid }, claims(), SECRET).replace(/^[^.]+/, Buffer.from(JSON.stringify({ alg, kid: RSA.kid })).toString('base64url'));
      expect(await refusal(() => jwt.verify(bearer(token)))).toBe('UNAUTHENTICATED');
    }
  });

  it('refuses a wrong issuer or audience, a missing exp, alg none, another signer and a lifetime over JWT_MAX_TTL_S', async () => {
    const { jwt } = withProvider();
    const stranger = providerKey(RSA.kid, 'RS256');
    const refused = [
      providerToken(RSA, claims({ iss: 'https://evil.test/' })),
      providerToken(RSA, claims({ iss: undefined })),
      providerToken(RSA, claims({ aud: 'another-app' })),
      providerToken(RSA, claims({ aud: undefined })),
      providerToken(RSA, claims({ exp: undefined })),
      providerToken(RSA, claims({ exp: now() - 5 })),
      providerToken(RSA, claims({ nbf: now() + 60 })),
      providerToken(RSA, claims({ exp: now() + 2 * 86_400 })),
      providerToken(RSA, claims({ sub: 'has space' })),
      providerToken(stranger, claims()),
      providerToken(RSA, claims(), { alg: 'RS256', kid: EC.kid }),
      providerToken(RSA, claims(), { crit: ['exp'] }),
      `${providerToken(RSA, claims()).split('.').slice(0, 2).join('.')}.`,
      signToken({ alg: 'none' }, claims(), '').replace(/\.[^.]*$/, '.'),
    ];
    const codes = await Promise.all(refused.map((token) => refusal(() => jwt.verify(bearer(token)))));
    expect(codes).toEqual(refused.map(() => 'UNAUTHENTICATED'));
  });

  it('refuses RS256 and ES256 tokens without a provider configured, at once and without fetching anything', () => {
    const jwt = service();
    expect(codeOf(() => jwt.verify(bearer(providerToken(RSA, claims()))))).toBe('UNAUTHENTICATED');
    expect(codeOf(() => jwt.verify(bearer(providerToken(EC, claims()))))).toBe('UNAUTHENTICATED');
  });
});
