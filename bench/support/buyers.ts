import { randomBytes } from 'node:crypto';
import { createSigner } from 'fast-jwt';
import { deriveKey, PurchaseTokens } from '@flash/access';

/** One HTTP request as the load generators send it. */
export interface BenchRequest {
  readonly method: 'POST' | 'GET';
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

export type RequestFactory = () => BenchRequest;

/**
 * The credentials a real client would hold: bearer tokens signed with the server's JWT_SECRET (as an identity
 * provider would) and purchase tokens minted with the very code and key derivation the server uses
 * (`@flash/access`), so neither is minted by the server inside a timed window. `checkTokenEquivalence` in api.ts
 * proves once per server that a locally minted token is byte-for-byte the one GET /sales/:id/access returns.
 */
export class BenchAuth {
  readonly jwtSecret = randomBytes(24).toString('base64url');
  readonly webhookSecret = randomBytes(24).toString('base64url');
  readonly purchaseTokens = new PurchaseTokens(deriveKey(this.jwtSecret, 'purchase-token'));
  private readonly sign = createSigner({ key: this.jwtSecret, algorithm: 'HS256', expiresIn: 3 * 3600_000 });
  private readonly bearers: string[] = [];

  /** Pre-signs bearer tokens for buyers 0..count-1 (user ids `b0`, `b1`, …), outside every timed window. */
  presign(count: number): void {
    for (let i = this.bearers.length; i < count; i++) this.bearers.push(`Bearer ${this.sign({ sub: buyerId(i) })}`);
  }

  /** The bearer header of buyer i: pre-signed when in the pool, else signed now (on the load generator's core). */
  bearer(i: number): string {
    return this.bearers[i] ?? `Bearer ${this.sign({ sub: buyerId(i) })}`;
  }

  admin(): string {
    return `Bearer ${this.sign({ sub: 'bench-admin', roles: ['admin'] })}`;
  }

  purchaseToken(userId: string, saleId: string): string {
    return this.purchaseTokens.issue(userId, saleId, Date.now()).purchaseToken;
  }
}

export const buyerId = (i: number): string => `b${i}`;

export interface ReservationLoad {
  readonly auth: BenchAuth;
  readonly saleId: string;
  /** Distinguishes the Idempotency-Keys of one run from another's. */
  readonly keyPrefix: string;
  /** First buyer index used. */
  readonly firstBuyer?: number;
  /** Cycle over this many buyers (the filter row); unset: a new buyer for every request. */
  readonly cycleBuyers?: number;
}

/**
 * POST /sales/:id/reservations with a fresh Idempotency-Key every time (a known key would be answered from the
 * buyer stream) and a purchase token minted just now (they live 120 s, longer than any window, but the scale row
 * runs for minutes).
 */
export const reservationRequests = (load: ReservationLoad): { next: RequestFactory; issued: () => number } => {
  const path = `/sales/${load.saleId}/reservations`;
  const first = load.firstBuyer ?? 0;
  // A cycling crowd re-uses its tokens for a minute (they live two), as a browser would: the HMAC stays off the
  // load generator's hot loop.
  const bodies: { body: string; at: number }[] = [];
  const bodyOf = (i: number, now: number): string => {
    const make = (): string => `{"quantity":1,"purchaseToken":"${load.auth.purchaseToken(buyerId(i), load.saleId)}"}`;
    if (load.cycleBuyers === undefined) return make();
    const cached = bodies[i - first];
    if (cached && now - cached.at < 60_000) return cached.body;
    const body = make();
    bodies[i - first] = { body, at: now };
    return body;
  };
  let n = 0;
  return {
    issued: () => n,
    next: () => {
      const i = first + (load.cycleBuyers === undefined ? n : n % load.cycleBuyers);
      const key = `${load.keyPrefix}-${(n++).toString(36).padStart(6, '0')}`;
      return {
        method: 'POST',
        path,
        headers: { authorization: load.auth.bearer(i), 'idempotency-key': key, 'content-type': 'application/json' },
        body: bodyOf(i, Date.now()),
      };
    },
  };
};
