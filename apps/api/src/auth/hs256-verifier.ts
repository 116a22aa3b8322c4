import { createHmac, createSecretKey, KeyObject, timingSafeEqual } from 'node:crypto';
import { livesTooLong } from './token-lifetime';

const BASE64URL = /^[A-Za-z0-9_-]+$/;

const jsonObject = (segment: string): Record<string, unknown> | undefined => {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
};

/**
 * A NumericDate claim, when present, is a finite number (seconds: `1e400` parses as Infinity); `fits` says whether
 * the clock is on the right side of it.
 */
const dateClaim = (claims: Record<string, unknown>, name: 'exp' | 'nbf', fits: (ms: number) => boolean): boolean => {
  if (!(name in claims)) return true;
  const value = claims[name];
  return typeof value === 'number' && Number.isFinite(value) && fits(value * 1000);
};

/**
 * Verifies an HS256 JWS compact token and returns its claims, or undefined. Every request of a sale carries a bearer
 * token, most of them seen once, so this is on the hot path; it does what fast-jwt's verifier does for the options
 * the api used (`algorithms: ['HS256']`, `requiredClaims: ['sub', 'exp']`, no clock tolerance) and no more, and is
 * stricter where that costs nothing: the signature must be the canonical base64url of the HMAC (no alternative
 * trailing bits), any `crit` header is refused (no extension is understood), and a token may live at most
 * `maxLifetimeS` from when it was issued (`iat`, or now if it names none, whichever is earlier): a leaked token with
 * an `exp` centuries away is not a key for ever. A property test holds it to never accept what fast-jwt refuses, and
 * to accept every token fast-jwt's signer makes with a valid `exp` within that lifetime.
 */
export const createHs256Verifier = (secret: string | Buffer, maxLifetimeS: number): ((token: string, now?: number) => Record<string, unknown> | undefined) => {
  const key: KeyObject = createSecretKey(typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret);
  const maxLifetimeMs = maxLifetimeS * 1000;
  let acceptedHeader: string | undefined;
  return (token, now = Date.now()) => {
    const first = token.indexOf('.');
    const last = token.lastIndexOf('.');
    if (first <= 0 || token.indexOf('.', first + 1) !== last || last === token.length - 1) return undefined;
    const headerSegment = token.slice(0, first);
    const payloadSegment = token.slice(first + 1, last);
    const signature = token.slice(last + 1);
    if (!BASE64URL.test(headerSegment) || !BASE64URL.test(payloadSegment) || !BASE64URL.test(signature)) return undefined;

    if (headerSegment !== acceptedHeader) {
      const header = jsonObject(headerSegment);
      if (header?.alg !== 'HS256' || 'crit' in header) return undefined;
      acceptedHeader = headerSegment; // a pure verdict on the segment's text: every token of one issuer shares it
    }
    const expected = Buffer.from(createHmac('sha256', key).update(token.slice(0, last)).digest('base64url'));
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;

    const claims = jsonObject(payloadSegment);
    if (claims === undefined || !('sub' in claims) || !('exp' in claims)) return undefined;
    if (!dateClaim(claims, 'nbf', (ms) => now >= ms) || !dateClaim(claims, 'exp', (ms) => now <= ms)) return undefined;
    // `exp` is a finite number by now.
    if (livesTooLong(claims as { exp: number }, now, maxLifetimeMs)) return undefined;
    return claims;
  };
};
