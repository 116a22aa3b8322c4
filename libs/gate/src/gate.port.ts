/**
 * The eligibility gate: the funnel's last filter before the event store. It answers, in one atomic step (one Redis
 * round trip in production), whether a purchase attempt may go on to the store: sale open, buyer under the limit,
 * a shard with stock, and whether this reservation was already admitted. It is a FILTER, never the truth: the store
 * decides, the gate is corrected when the store disagrees, and it is rebuilt from the store when its state is lost.
 */
export interface GateSaleTerms {
  readonly saleId: string;
  readonly startsAt: number;
  readonly endsAt: number;
  readonly perUserLimit: number;
}

/** A live hold as the store knows it: it counts against its shard's stock and its buyer's limit. */
export interface GateHold {
  readonly reservationId: string;
  readonly userId: string;
  readonly shard: number;
  readonly quantity: number;
  /** False for an on-payment order: it counts against its buyer, but stock is only taken when it is paid. */
  readonly stockTaken: boolean;
}

/** Everything the gate needs about one sale, derived from the store's truth. */
export interface GateSnapshot extends GateSaleTerms {
  /** available[shard] = allocated − reserved + released, as folded from the shard streams. */
  readonly available: readonly number[];
  readonly holds: readonly GateHold[];
}

export interface AdmitRequest {
  readonly saleId: string;
  readonly userId: string;
  readonly reservationId: string;
  readonly quantity: number;
  readonly now: number;
  /** First shard to look at; the gate walks on from there (spreads load, deterministic per reservation). */
  readonly startShard: number;
  /** Set stock aside (reserve / on-order modes); false only checks that some is there (on-payment mode). */
  readonly takeStock: boolean;
}

export type GateRefusal = 'SOLD_OUT' | 'LIMIT_EXCEEDED' | 'SALE_NOT_STARTED' | 'SALE_ENDED';

export type GateVerdict =
  | { readonly kind: 'admitted'; readonly shard: number }
  /** This reservation id was admitted before (a retry, or a command resent after a reconnect): no second effect. */
  | { readonly kind: 'known'; readonly shard: number }
  | { readonly kind: 'refused'; readonly code: GateRefusal }
  /** The gate holds no state for this sale (never loaded, or lost with Redis): rebuild from the store first. */
  | { readonly kind: 'not-loaded' };

export interface EligibilityGate {
  /** Replaces the sale's gate state with the snapshot (atomically: until it is complete, the sale is not loaded). */
  load(snapshot: GateSnapshot): Promise<void>;
  admit(request: AdmitRequest): Promise<GateVerdict>;
  /** Gives a hold back: its units to its shard, its quantity to its buyer. Idempotent per reservation id. */
  release(saleId: string, reservationId: string): Promise<void>;
  /** The store found less stock on a shard than the gate thought: lower the gate's count to the truth. */
  correct(saleId: string, shard: number, available: number): Promise<void>;
  /** Gate-side view, for tests and the convergence check: available per shard and quantity per buyer. */
  inspect(saleId: string): Promise<{ available: number[]; users: Record<string, number>; holds: number } | undefined>;
  close(): Promise<void>;
}

export class GateUnavailable extends Error {
  constructor(cause: unknown) {
    super(`eligibility gate unavailable: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'GateUnavailable';
  }
}
