/**
 * A bearer token may live at most `maxLifetimeMs` from when it was issued — its `iat`, or now if it names none,
 * whichever is earlier — whatever its signer says: a leaked token with an `exp` centuries away is not a key for ever.
 * `exp` is a verified finite NumericDate (seconds); `iat`, when present, must be one too.
 */
export const livesTooLong = (claims: { readonly exp: number; readonly iat?: unknown }, now: number, maxLifetimeMs: number): boolean => {
  const { iat } = claims;
  if ('iat' in claims && !(typeof iat === 'number' && Number.isFinite(iat))) return true;
  const issuedAt = typeof iat === 'number' ? Math.min(iat * 1000, now) : now;
  return claims.exp * 1000 - issuedAt > maxLifetimeMs;
};
