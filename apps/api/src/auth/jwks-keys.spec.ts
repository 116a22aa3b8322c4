import pino from 'pino';
import { publicJwk, providerKey, ProviderKey } from '../../../../test/support/identity-provider';
import { JwksKeys, KeysUnavailable } from './jwks-keys';

const RSA = providerKey('rsa-1', 'RS256');
const EC = providerKey('ec-1', 'ES256');
const ROTATED = providerKey('rsa-2', 'RS256');
const COOLDOWN_MS = 30_000;
const MAX_AGE_MS = 600_000;
const TOKEN = { payload: new Uint8Array(), signature: '' };

/** A key set served by a stand-in fetch that counts its calls, and a clock the test moves. */
const setUp = () => {
  const provider = { keys: [RSA, EC] as ProviderKey[], fetches: 0, failing: false };
  let now = 1_000_000;
  const keys = new JwksKeys(
    { url: 'https://idp.test/jwks', refreshCooldownMs: COOLDOWN_MS, maxAgeMs: MAX_AGE_MS },
    pino({ enabled: false }),
    async () => {
      provider.fetches++;
      if (provider.failing) throw new Error('unreachable');
      return { keys: provider.keys.map(publicJwk) };
    },
    () => now,
  );
  const keyFor = (key: ProviderKey, kid = key.kid) => keys.getKey({ alg: key.alg, kid }, TOKEN);
  return { keys, provider, keyFor, advance: (ms: number) => (now += ms) };
};

const settled = () => new Promise((r) => setImmediate(r));

describe('JwksKeys', () => {
  it('fetches the set once at start and answers every known kid from it', async () => {
    const t = setUp();
    t.keys.start();
    const found = await Promise.all([t.keyFor(RSA), t.keyFor(EC), t.keyFor(RSA)]);
    expect(found.map((k) => k.algorithm.name)).toEqual(['RSASSA-PKCS1-v1_5', 'ECDSA', 'RSASSA-PKCS1-v1_5']);
    expect(t.provider.fetches).toBe(1);
  });

  it("refetches once for a kid it does not know (the provider rotated its keys) and finds the new key", async () => {
    const t = setUp();
    await t.keyFor(RSA);
    t.provider.keys = [RSA, ROTATED];
    const found = await Promise.all([t.keyFor(ROTATED), t.keyFor(ROTATED), t.keyFor(ROTATED)]);
    expect(found).toHaveLength(3);
    expect(t.provider.fetches).toBe(2);
  });

  it('refetches for unknown kids at most once per cooldown, however many tokens name them', async () => {
    const t = setUp();
    await t.keyFor(RSA);
    const unknown = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => t.keyFor(RSA, `made-up-${i}`)));
    for (let i = 0; i < 5; i++) await expect(t.keyFor(RSA, `later-${i}`)).rejects.toThrow(/no applicable key/i);
    expect(unknown.every((r) => r.status === 'rejected')).toBe(true);
    expect(t.provider.fetches).toBe(2);
    t.advance(COOLDOWN_MS);
    await expect(t.keyFor(RSA, 'after-the-cooldown')).rejects.toThrow(/no applicable key/i);
    expect(t.provider.fetches).toBe(3);
  });

  it('keeps serving the keys it holds when a refresh fails, and refreshes in the background once they are old', async () => {
    const t = setUp();
    await t.keyFor(RSA);
    t.provider.failing = true;
    await expect(t.keyFor(RSA, 'unknown')).rejects.toThrow(/no applicable key/i);
    expect(await t.keyFor(RSA)).toBeDefined();
    t.provider.failing = false;
    t.provider.keys = [ROTATED];
    t.advance(MAX_AGE_MS);
    // Answered from the old set while the new one is fetched.
    expect(await t.keyFor(RSA)).toBeDefined();
    await settled();
    expect(t.provider.fetches).toBe(3);
    await expect(t.keyFor(RSA)).rejects.toThrow(/no applicable key/i);
    expect(await t.keyFor(ROTATED)).toBeDefined();
  });

  it('has no keys while the provider cannot be reached, and asks it again at most once per cooldown', async () => {
    const t = setUp();
    t.provider.failing = true;
    t.keys.start();
    await settled();
    for (let i = 0; i < 5; i++) await expect(t.keyFor(RSA)).rejects.toBeInstanceOf(KeysUnavailable);
    expect(t.provider.fetches).toBe(1);
    t.provider.failing = false;
    t.advance(COOLDOWN_MS);
    expect(await t.keyFor(RSA)).toBeDefined();
    expect(t.provider.fetches).toBe(2);
  });
});
