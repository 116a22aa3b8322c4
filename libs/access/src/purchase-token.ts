import { createHmac, timingSafeEqual } from 'node:crypto';

export const MAX_PURCHASE_TOKEN_TTL_MS = 120_000;

/**
 * How a token was obtained: straight from the access route, or through a sale's waiting room once admitted. The
 * purchase of a sale whose room is on accepts admitted tokens only, so no way around the line gives one.
 */
export type PurchaseTokenRoute = 'direct' | 'admitted';

export interface IssuedPurchaseToken {
  readonly purchaseToken: string;
  readonly expiresAt: number;
}

/**
 * The dynamic order URL of seed 001, as a token: an HMAC over (user, sale, expiry), issued only once the sale has
 * started and valid for at most two minutes. Without it no purchase is accepted, so a script that knows the
 * sale id cannot buy before the start, and a token stolen from one user or sale is worthless for another.
 */
export class PurchaseTokens {
  private readonly ttlMs: number;

  constructor(
    private readonly secret: Buffer,
    ttlMs: number = MAX_PURCHASE_TOKEN_TTL_MS,
  ) {
    this.ttlMs = Math.min(ttlMs, MAX_PURCHASE_TOKEN_TTL_MS);
  }

  /** `notAfter`: the token expires then at the latest (an admission's slot ends then). */
  issue(userId: string, saleId: string, now: number, route: PurchaseTokenRoute = 'direct', notAfter = Number.POSITIVE_INFINITY): IssuedPurchaseToken {
    const expiresAt = Math.min(now + this.ttlMs, notAfter);
    return { purchaseToken: `${expiresAt.toString(36)}.${this.mac(userId, saleId, expiresAt, route)}`, expiresAt };
  }

  verify(token: string, userId: string, saleId: string, now: number, route: PurchaseTokenRoute = 'direct'): boolean {
    const dot = token.indexOf('.');
    if (dot < 1 || dot > 12) return false;
    const expiresAt = Number.parseInt(token.slice(0, dot), 36);
    if (!Number.isSafeInteger(expiresAt) || expiresAt.toString(36) !== token.slice(0, dot)) return false;
    if (now >= expiresAt || expiresAt - now > this.ttlMs) return false;
    const given = Buffer.from(token.slice(dot + 1));
    const expected = Buffer.from(this.mac(userId, saleId, expiresAt, route));
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private mac(userId: string, saleId: string, expiresAt: number, route: PurchaseTokenRoute): string {
    // A direct token's MAC input is unchanged since v1; an admitted one's differs, so neither passes for the other.
    const kind = route === 'admitted' ? 'purchase-token/v1+admitted' : 'purchase-token/v1';
    return createHmac('sha256', this.secret).update(`${kind}\n${userId}\n${saleId}\n${expiresAt}`).digest('base64url');
  }
}

/** Derives a purpose-bound key from a master secret, so one leaked key does not forge the other kind. */
export const deriveKey = (masterSecret: string, purpose: string): Buffer => createHmac('sha256', masterSecret).update(`flash-sale/${purpose}`).digest();
