import { RecentIdempotencyKeys } from './known-idempotency-keys';

describe('RecentIdempotencyKeys', () => {
  it('knows a key for the same sale and user only', () => {
    const keys = new RecentIdempotencyKeys();
    keys.remember('sale-a', 'buyer-1', 'key-0001');
    expect(keys.has('sale-a', 'buyer-1', 'key-0001')).toBe(true);
    expect(keys.has('sale-a', 'buyer-2', 'key-0001')).toBe(false);
    expect(keys.has('sale-b', 'buyer-1', 'key-0001')).toBe(false);
    expect(keys.has('sale-a', 'buyer-1', 'key-0002')).toBe(false);
  });

  it('forgets the least recently remembered key beyond its capacity', () => {
    const keys = new RecentIdempotencyKeys(2);
    keys.remember('s', 'u', 'k1');
    keys.remember('s', 'u', 'k2');
    keys.remember('s', 'u', 'k1'); // k1 is fresh again
    keys.remember('s', 'u', 'k3');
    expect([keys.has('s', 'u', 'k1'), keys.has('s', 'u', 'k2'), keys.has('s', 'u', 'k3')]).toEqual([true, false, true]);
    expect(keys.size).toBe(2);
  });

  it('does not confuse fields that run into each other', () => {
    const keys = new RecentIdempotencyKeys();
    keys.remember('s', 'u1', 'k');
    expect(keys.has('s', 'u', '1k')).toBe(false);
  });

  it('refuses a capacity below 1', () => {
    expect(() => new RecentIdempotencyKeys(0)).toThrow(RangeError);
  });
});
