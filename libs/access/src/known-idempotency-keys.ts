/**
 * API.md: "A known key is answered before the token, challenge, rate limits and stock are looked at". The access
 * layer runs before the handler that knows the keys for certain (from the buyer stream), so when it is about to
 * refuse a reservation for rate or degradation it first asks here whether this is the replay of one already
 * answered. A port: the eligibility gate's "idempotency key seen" set can answer it across instances and restarts.
 */
export interface KnownIdempotencyKeys {
  has(saleId: string, userId: string, idempotencyKey: string): boolean | Promise<boolean>;
  /** For implementations that learn from this instance's answers; a gate-backed one knows the keys already. */
  remember?(saleId: string, userId: string, idempotencyKey: string): void;
}

/** The keys this instance answered with a reservation lately, most recent kept; a bounded map in insertion order. */
export class RecentIdempotencyKeys implements KnownIdempotencyKeys {
  private readonly keys = new Set<string>();

  constructor(private readonly capacity = 100_000) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`capacity is a positive integer, got ${capacity}`);
  }

  remember(saleId: string, userId: string, idempotencyKey: string): void {
    const key = keyOf(saleId, userId, idempotencyKey);
    this.keys.delete(key);
    this.keys.add(key);
    if (this.keys.size > this.capacity) {
      const oldest = this.keys.values().next();
      if (!oldest.done) this.keys.delete(oldest.value);
    }
  }

  has(saleId: string, userId: string, idempotencyKey: string): boolean {
    return this.keys.has(keyOf(saleId, userId, idempotencyKey));
  }

  get size(): number {
    return this.keys.size;
  }
}

/** Joined rather than concatenated: a flat string, where a template literal kept as a key holds a rope of its parts. */
const keyOf = (saleId: string, userId: string, idempotencyKey: string): string => [saleId, userId, idempotencyKey].join('\n');
