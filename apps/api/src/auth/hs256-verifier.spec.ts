import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { createSigner, createVerifier } from 'fast-jwt';
import { createHs256Verifier } from './hs256-verifier';

const SECRET = 'property-test-secret-property-test';
const NOW = 1_800_000_000_000;
const MAX_LIFETIME_S = 24 * 3600;
const ours = createHs256Verifier(SECRET, MAX_LIFETIME_S);
const reference = createVerifier({ key: SECRET, algorithms: ['HS256'], requiredClaims: ['sub', 'exp'], clockTimestamp: NOW });
const live = createVerifier({ key: SECRET, algorithms: ['HS256'], requiredClaims: ['sub', 'exp'] });
const referenceAccepts = (token: string, verifier = reference): Record<string, unknown> | undefined => {
  try {
    return verifier(token) as Record<string, unknown>;
  } catch {
    return undefined;
  }
};
const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const hmacToken = (header: unknown, payload: unknown, key = SECRET): string => {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
};

const claims = fc.oneof(
  { weight: 3, arbitrary: fc.record({ sub: fc.string({ minLength: 1, maxLength: 20 }), exp: fc.integer({ min: NOW / 1000 - 50, max: NOW / 1000 + 100 }) }) },
  {
    weight: 2,
    arbitrary: fc.record(
      {
        sub: fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), fc.integer()),
        exp: fc.oneof(fc.integer({ min: NOW / 1000 - 100, max: NOW / 1000 + 100 }), fc.constant('soon'), fc.double({ noNaN: true })),
        nbf: fc.oneof(fc.integer({ min: NOW / 1000 - 100, max: NOW / 1000 + 100 }), fc.constant([1])),
        roles: fc.array(fc.constantFrom('admin', 'analyst', 'x')),
      },
      { requiredKeys: [] },
    ),
  },
);
const headers = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ alg: 'HS256', typ: 'JWT' }) },
  fc.constant({ alg: 'HS256' }),
  fc.constant({ alg: 'none' }),
  fc.constant({ alg: 'HS512' }),
  fc.constant({ alg: 'hs256' }),
  fc.constant({ alg: 'HS256', crit: ['exp'] }),
  fc.constant({ typ: 'JWT' }),
  fc.constant([1]),
  fc.constant('not json'),
);

/** Ways a token can be bent: each keeps the token a string a client could send. */
const mutate = (token: string, how: number, at: number): string => {
  const i = at % token.length;
  switch (how) {
    case 0:
      return token;
    case 1: // flip one character
      return `${token.slice(0, i)}${token[i] === 'A' ? 'B' : 'A'}${token.slice(i + 1)}`;
    case 2: // drop the signature
      return token.slice(0, token.lastIndexOf('.') + 1);
    case 3: // padding or whitespace inside a segment
      return `${token.slice(0, i)}${at % 2 === 0 ? '=' : ' '}${token.slice(i)}`;
    case 4: // an extra segment
      return `${token}.${token.split('.')[1] ?? ''}`;
    default: // another key's signature
      return `${token.slice(0, token.lastIndexOf('.'))}.${hmacToken({ alg: 'HS256' }, {}, 'another-secret').split('.')[2] ?? ''}`;
  }
};

describe('createHs256Verifier', () => {
  it('accepts every token fast-jwt signs with a live exp, with the same claims', () => {
    fc.assert(
      // At least 10 s to live: exp is whole seconds, and a loaded machine must not see a token expire between the calls.
      fc.property(fc.string({ minLength: 1, maxLength: 64 }), fc.integer({ min: 10_000, max: 10_000_000 }), fc.array(fc.string(), { maxLength: 3 }), (sub, ttl, roles) => {
        const token = createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: ttl })({ sub, roles });
        const mine = ours(token);
        expect(mine).toEqual(referenceAccepts(token, live) ?? 'fast-jwt refused it');
        expect(mine).toEqual(expect.objectContaining({ sub, roles }));
      }),
    );
  });

  it('never accepts what fast-jwt refuses, and agrees on the claims when both accept (headers, claims, bent tokens)', () => {
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(headers, claims, fc.boolean(), fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.nat(5)), fc.nat(), (header, payload, rightKey, how, at) => {
        const token = mutate(hmacToken(header, payload, rightKey ? SECRET : 'wrong-secret'), how, at);
        const mine = ours(token, NOW);
        if (mine !== undefined) expect(mine).toEqual(referenceAccepts(token));
        if (mine === undefined) refused++;
        else accepted++;
      }),
      { numRuns: 5000 },
    );
    // Both sides of the property were exercised.
    expect(accepted).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(1000);
  });

  it('refuses an expired token, a token not yet valid, and one without sub or exp', () => {
    const s = NOW / 1000;
    expect(ours(hmacToken({ alg: 'HS256' }, { sub: 'u', exp: s }), NOW)).toBeDefined(); // valid up to and at exp
    expect(ours(hmacToken({ alg: 'HS256' }, { sub: 'u', exp: s - 1 }), NOW)).toBeUndefined();
    expect(ours(hmacToken({ alg: 'HS256' }, { sub: 'u', exp: s + 60, nbf: s + 1 }), NOW)).toBeUndefined();
    expect(ours(hmacToken({ alg: 'HS256' }, { exp: s + 60 }), NOW)).toBeUndefined();
    expect(ours(hmacToken({ alg: 'HS256' }, { sub: 'u' }), NOW)).toBeUndefined();
    expect(ours(hmacToken({ alg: 'none' }, { sub: 'u', exp: s + 60 }).replace(/\.[^.]*$/, '.'), NOW)).toBeUndefined();
  });

  it('refuses a token living longer than its maximum lifetime, counted from the earlier of iat and now', () => {
    const s = NOW / 1000;
    expect(ours(hmacToken({ alg: 'HS256' }, { sub: 'u', exp: s + MAX_LIFETIME_S }), NOW)).toBeDefined();
    expect(ours(hmacToken({ alg: 'HS256' }, { sub: 'u', exp: s + MAX_LIFETIME_S + 1 }), NOW)).toBeUndefined();
    expect(ours(hmacToken({ alg: 'HS256' }, { sub: 'u', iat: s - 10, exp: s + MAX_LIFETIME_S - 10 }), NOW)).toBeDefined();
    expect(ours(hmacToken({ alg: 'HS256' }, { sub: 'u', iat: s - 10, exp: s + MAX_LIFETIME_S - 9 }), NOW)).toBeUndefined();
    expect(ours(hmacToken({ alg: 'HS256' }, { sub: 'u', iat: s + 3600, exp: s + MAX_LIFETIME_S + 60 }), NOW)).toBeUndefined();
    expect(ours(hmacToken({ alg: 'HS256' }, { sub: 'u', exp: 1e12 }), NOW)).toBeUndefined();
  });

  it('refuses NumericDates that are not finite numbers (1e400 parses as Infinity)', () => {
    const s = NOW / 1000;
    const raw = (payload: string): string => hmacToken({ alg: 'HS256' }, payload);
    expect(ours(raw('{"sub":"u","exp":1e400}'), NOW)).toBeUndefined();
    expect(ours(raw(`{"sub":"u","exp":${s + 60},"nbf":-1e400}`), NOW)).toBeUndefined();
    expect(ours(raw(`{"sub":"u","exp":${s + 60},"iat":-1e400}`), NOW)).toBeUndefined();
    expect(ours(raw(`{"sub":"u","exp":${s + 60},"iat":null}`), NOW)).toBeUndefined();
    expect(ours(raw(`{"sub":"u","exp":${s + 60},"iat":${s}}`), NOW)).toBeDefined();
  });
});
