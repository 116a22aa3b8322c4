import {
  availableStock,
  buyerStream,
  DomainEvent,
  initialShardState,
  inventoryShardDecider,
  inventoryStream,
  Order,
  paymentStream,
  SaleDefinition,
  saleStream,
  ShardEvent,
  ShardState,
} from '@flash/domain';
import { decodeEvent, decodeLogEvent, LogEvent, RecordedEvent } from '@flash/event-store';

/** The invariants the audit checks; each violation names one. */
export const INVARIANTS = [
  /** DESIGN 1: per shard and per sale, reserved − released ≤ allocated at every prefix of the log. */
  'never-oversold',
  /** Every unit released or held by an order was taken by a StockReserved for that order (else "released" hides an oversell). */
  'stock-accounting',
  /** DESIGN 2: units claimed and not released per buyer (sale, user: one buyer stream) ≤ perUserLimit. */
  'per-user-limit',
  /** DESIGN 3: OrderPaid only on a placed, live, unexpired order, for its amount, with its stock taken. */
  'paid-on-live-reservation',
  /** Only a live order expires or is cancelled, and never before its hold runs out. */
  'order-lifecycle',
  /** DESIGN 4: every hold ends (paid, expired, cancelled) within its ttl + grace, and an ended hold gives its stock back. */
  'hold-ended',
  /** Every QuotaClaimed is settled by its OrderPlaced or a QuotaReleased within the grace. */
  'claim-settled',
  /** One reservation per Idempotency-Key of a user (across sales), one OrderPlaced per order id in a sale. */
  'no-duplicate-reservation',
  /** A payment id is received for one order and has one outcome there: paid, or refund requested, once. */
  'one-outcome-per-payment',
  /** Σ SaleStockAllocated.allocations = totalStock, one allocation per shard. */
  'allocation-matches-stock',
  /** A shard or buyer event refers to a sale whose SaleScheduled precedes it. */
  'known-sale',
  /** An event sits in the stream its own data names (the API reads shards by stream name). */
  'event-in-its-stream',
  /** Every event in the log is one this build can read. */
  'decodable-event',
] as const;
export type Invariant = (typeof INVARIANTS)[number];

export interface EventRef {
  readonly stream: string;
  readonly revision: number;
  readonly position: number;
}

export interface Violation extends EventRef {
  readonly invariant: Invariant;
  readonly message: string;
}

/** A decoded event with where and when the store recorded it. */
export interface AuditedEvent {
  readonly streamId: string;
  readonly revision: number;
  readonly position: number;
  readonly recordedAt: number;
  readonly event: DomainEvent;
}

/** Cumulative units of one shard, exactly as GET /admin/sales/:id reports them. */
export interface ShardCounts {
  readonly shard: number;
  readonly allocated: number;
  readonly reserved: number;
  readonly paid: number;
  readonly released: number;
  readonly available: number;
}

/**
 * One sale's state. Every number is in units: allocated/reserved/paid/released/available as API.md defines them for
 * GET /admin/sales/:id (Σ over shards); `expired` and `cancelled` are the units of the orders that expired or were
 * cancelled.
 */
export interface SaleCounts {
  readonly saleId: string;
  readonly allocated: number;
  readonly reserved: number;
  readonly paid: number;
  readonly released: number;
  readonly expired: number;
  readonly cancelled: number;
  readonly available: number;
  readonly shards: ShardCounts[];
}

export interface SaleVerdict extends SaleCounts {
  readonly violations: Violation[];
}

export interface AuditVerdict {
  readonly ok: boolean;
  /** Position of the last event audited. */
  readonly position: number;
  /** Events read from the log (all sales). */
  readonly events: number;
  /** The instant the end-of-log checks (holds, claims) were judged at, ISO-8601; null for an empty log. */
  readonly now: string | null;
  readonly expiryGraceMs: number;
  readonly sales: SaleVerdict[];
  /** Violations that belong to no sale (an event the audit cannot read). */
  readonly logViolations: Violation[];
}

export interface AuditModelOptions {
  /** Audit only this sale; events of other sales are read (and counted) but not folded. */
  readonly saleId?: string;
}

export interface EndOfLogOptions {
  /** The instant holds and claims are judged at: normally the log's last recordedAt. */
  readonly now: number;
  /** Slack past a hold's expiresAt (or a claim's recording) before it counts as not ended / unsettled. */
  readonly expiryGraceMs: number;
}

export const DEFAULT_EXPIRY_GRACE_MS = 60_000;

interface ShardAudit {
  /** Folded by the InventoryShard decider's own evolve: the same numbers the API computes. */
  state: ShardState;
  /** orderId → units reserved for it and not yet released. */
  readonly heldUnits: Map<string, number>;
}

/**
 * What the log says about one reservation id (= order id) of a sale: its QuotaClaimed and where it was first placed.
 * One record and flat refs (no EventRef object each) per id: the fold holds hundreds of thousands of them, and one
 * map lookup serves both the claim and the order.
 */
interface Reservation {
  /** A QuotaClaimed for it is in the log; the claim* fields, userId and quantity are its (the first one's). */
  claimed: boolean;
  claimStream: string;
  claimRevision: number;
  claimPosition: number;
  claimRecordedAt: number;
  userId: string;
  quantity: number;
  /** A QuotaReleased gave the claim's units back. */
  released: boolean;
  /** An OrderPlaced for it is in the log; the placed* fields are the first one's. */
  placed: boolean;
  placedShard: number;
  placedStream: string;
  placedRevision: number;
  placedPosition: number;
}

/** One buyer (sale, user) as the Buyer decider counts them, and the reservations of their Idempotency-Keys. */
interface BuyerAudit {
  /** Units claimed and not released (active holds plus paid orders). */
  active: number;
  /** The buyer's first Idempotency-Key (without a newline; see SaleAudit.oddKeys) and the reservation claimed under it. */
  key: string | undefined;
  reservation: string;
  /** Any further keys (most buyers have one): key → the reservation first claimed under it. */
  more: Map<string, string> | undefined;
}

interface SaleAudit {
  readonly saleId: string;
  definition: SaleDefinition | undefined;
  allocations: readonly number[];
  readonly shards: Map<number, ShardAudit>;
  reservedUnits: number;
  releasedUnits: number;
  expiredUnits: number;
  cancelledUnits: number;
  /** reservationId / orderId → its claim and first placement. */
  readonly reservations: Map<string, Reservation>;
  /** userId → the buyer. */
  readonly buyers: Map<string, BuyerAudit>;
  /**
   * `${userId}\n${idempotencyKey}` → the reservation first claimed under it, for the pairs where either contains a
   * newline. A key is one string made of both (as the audit has always compared them); pairs without a newline
   * cannot collide with these, so they are kept per buyer instead.
   */
  readonly oddKeys: Map<string, string>;
  readonly violations: Violation[];
  unknownSaleReported: boolean;
  /** saleStream(saleId), and buyerStream(saleId, '') that every buyer stream of the sale starts with (inItsStream). */
  readonly stream: string;
  readonly buyerPrefix: string;
  /** shard → inventoryStream(saleId, shard), built once per shard (inItsStream). */
  readonly shardStreams: Map<unknown, string>;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const sum = (ns: readonly number[]): number => ns.reduce((a, b) => a + b, 0);
const isLive = (o: Order): boolean => o.status === 'reserved' || o.status === 'placed';
const refOf = (e: AuditedEvent): EventRef => ({ stream: e.streamId, revision: e.revision, position: e.position });
const claimRef = (r: Reservation): EventRef => ({ stream: r.claimStream, revision: r.claimRevision, position: r.claimPosition });
const placedRef = (r: Reservation): EventRef => ({ stream: r.placedStream, revision: r.placedRevision, position: r.placedPosition });

const newReservation = (): Reservation => ({
  claimed: false,
  claimStream: '',
  claimRevision: 0,
  claimPosition: 0,
  claimRecordedAt: 0,
  userId: '',
  quantity: 0,
  released: false,
  placed: false,
  placedShard: 0,
  placedStream: '',
  placedRevision: 0,
  placedPosition: 0,
});

/** The reservation claimed under (user, key) in this sale, without recording anything. */
const reservationUnder = (sale: SaleAudit, userId: string, idempotencyKey: string): string | undefined => {
  if (userId.includes('\n') || idempotencyKey.includes('\n')) return sale.oddKeys.get(`${userId}\n${idempotencyKey}`);
  const buyer = sale.buyers.get(userId);
  if (buyer?.key === undefined) return undefined;
  return buyer.key === idempotencyKey ? buyer.reservation : buyer.more?.get(idempotencyKey);
};

/**
 * Whether the event sits in the stream its own data names (`expectedStream`), without building that name for each
 * event: a sale's and its shards' stream names are built once per sale (shard), and a buyer stream is the sale's
 * buyer prefix followed by the user id, compared in two parts. A data field of an unexpected type takes the long way.
 */
const inItsStream = (sale: SaleAudit, streamId: string, event: DomainEvent): boolean => {
  switch (event.type) {
    case 'SaleScheduled':
    case 'SaleStockAllocated':
    case 'SaleClosed':
      return streamId === sale.stream;
    case 'QuotaClaimed':
    case 'QuotaReleased': {
      const userId: unknown = event.data.userId;
      if (typeof userId !== 'string') return streamId === expectedStream(event);
      const prefix = sale.buyerPrefix;
      return streamId.length === prefix.length + userId.length && streamId.startsWith(prefix) && streamId.endsWith(userId);
    }
    case 'PaymentReceived':
      return streamId === paymentStream(event.data.paymentId);
    default: {
      const shard = event.data.shard;
      let stream = sale.shardStreams.get(shard);
      if (stream === undefined) sale.shardStreams.set(shard, (stream = inventoryStream(sale.saleId, shard)));
      return streamId === stream;
    }
  }
};

const expectedStream = (event: DomainEvent): string => {
  switch (event.type) {
    case 'SaleScheduled':
    case 'SaleStockAllocated':
    case 'SaleClosed':
      return saleStream(event.data.saleId);
    case 'QuotaClaimed':
    case 'QuotaReleased':
      return buyerStream(event.data.saleId, event.data.userId);
    case 'PaymentReceived':
      return paymentStream(event.data.paymentId);
    default:
      return inventoryStream(event.data.saleId, event.data.shard);
  }
};

/**
 * The audit as a fold: events go in one at a time in log order; every invariant that can break at an event is
 * checked right after it (so a violation names the event where the prefix first went wrong), and the checks that
 * need the end of the log (a hold never ended, a claim never settled) are made by `verdict`. No I/O, no clock.
 */
export class AuditModel {
  private readonly sales = new Map<string, SaleAudit>();
  /** paymentId → its first outcome, as `position + 1` when paid and `-(position + 1)` when a refund was requested. */
  private readonly payments = new Map<string, number>();
  /** paymentId → the order its first PaymentReceived names: the one order it may settle, whichever sale is audited. */
  private readonly paymentOrders = new Map<string, string>();
  /** userId → the sale(s) they claimed quota in (one id for nearly every buyer): where else their keys may be used. */
  private readonly buyerSales = new Map<string, string | string[]>();
  private readonly logViolations: Violation[] = [];
  private lastPosition = 0;
  private eventCount = 0;
  private latestRecordedAt: number | undefined;

  constructor(private readonly options: AuditModelOptions = {}) {}

  /** Position of the last event applied (0 before any). */
  get position(): number {
    return this.lastPosition;
  }

  get events(): number {
    return this.eventCount;
  }

  /** The latest recordedAt seen: "now" as far as the log can tell. */
  get lastRecordedAt(): number | undefined {
    return this.latestRecordedAt;
  }

  /** Decodes a stored event (upcasting old versions) and applies it; an unreadable event is a violation, not a crash. */
  applyRecorded(recorded: RecordedEvent): void {
    this.applyDecoded(recorded, decodeEvent);
  }

  /** The same for an event from the sequential log reader (decoded by decodeLogEvent, the same checks and upcasting). */
  applyLogged(logged: LogEvent): void {
    this.applyDecoded(logged, decodeLogEvent);
  }

  private applyDecoded<E extends Omit<AuditedEvent, 'event'> & { readonly eventId: string; readonly type: string }>(stored: E, decode: (e: E) => DomainEvent): void {
    let event: DomainEvent;
    try {
      event = decode(stored);
    } catch (error) {
      this.advance(stored);
      const message = `event ${stored.eventId} of type ${stored.type} cannot be read: ${error instanceof Error ? error.message : String(error)}`;
      this.logViolations.push(this.violation('decodable-event', message, { stream: stored.streamId, revision: stored.revision, position: stored.position }));
      return;
    }
    this.apply({ streamId: stored.streamId, revision: stored.revision, position: stored.position, recordedAt: stored.recordedAt, event });
  }

  apply(e: AuditedEvent): void {
    this.advance(e);
    // Which order a payment belongs to is a fact about the whole log, kept even for sales not audited.
    if (e.event.type === 'PaymentReceived' && !this.paymentOrders.has(e.event.data.paymentId)) {
      this.paymentOrders.set(e.event.data.paymentId, e.event.data.orderId);
    }
    const saleId = e.event.data.saleId;
    if (this.options.saleId !== undefined && saleId !== this.options.saleId) return;
    const sale = this.saleAudit(saleId);
    if (!inItsStream(sale, e.streamId, e.event)) {
      this.violate(sale, 'event-in-its-stream', `${e.event.type} of sale ${saleId} is in stream ${e.streamId}, expected ${expectedStream(e.event)}`, e);
    }
    if (sale.definition === undefined && e.event.type !== 'SaleScheduled' && !sale.unknownSaleReported) {
      sale.unknownSaleReported = true;
      this.violate(sale, 'known-sale', `${e.event.type} refers to sale ${saleId}, which no SaleScheduled before it created`, e);
    }
    switch (e.event.type) {
      case 'SaleScheduled': {
        const { scheduledAt: _scheduledAt, ...definition } = e.event.data;
        sale.definition ??= definition;
        return;
      }
      case 'SaleStockAllocated':
        return this.onStockAllocated(sale, e.event.data.allocations, e);
      case 'SaleClosed':
        return;
      case 'QuotaClaimed':
        return this.onQuotaClaimed(sale, e.event, e);
      case 'PaymentReceived': {
        const { paymentId, orderId } = e.event.data;
        const first = this.paymentOrders.get(paymentId);
        if (first !== orderId) this.violate(sale, 'one-outcome-per-payment', `payment ${paymentId} received for order ${orderId}, but first for order ${String(first)}`, e);
        return;
      }
      case 'QuotaReleased': {
        // As the Buyer decider: releasing an unknown or already released claim gives nothing back.
        const claim = sale.reservations.get(e.event.data.reservationId);
        if (claim?.claimed && !claim.released) {
          claim.released = true;
          // The claim made its buyer's record.
          const buyer = sale.buyers.get(claim.userId) as BuyerAudit;
          buyer.active -= claim.quantity;
        }
        return;
      }
      default:
        return this.onShardEvent(sale, e.event, e);
    }
  }

  /** The current counts of every sale (replay's answer), in the order the sales first appear in the log. */
  counts(): SaleCounts[] {
    return [...this.sales.values()].map((sale) => this.saleCounts(sale));
  }

  /** Counts plus every violation, including the end-of-log checks judged at `now`. */
  verdict({ now, expiryGraceMs }: EndOfLogOptions): AuditVerdict {
    const sales = [...this.sales.values()].map((sale) => ({
      ...this.saleCounts(sale),
      violations: [...sale.violations, ...this.endOfLogViolations(sale, now, expiryGraceMs)].sort((a, b) => a.position - b.position),
    }));
    const ok = this.logViolations.length === 0 && sales.every((s) => s.violations.length === 0);
    return {
      ok,
      position: this.lastPosition,
      events: this.eventCount,
      now: this.eventCount === 0 ? null : iso(now),
      expiryGraceMs,
      sales,
      logViolations: [...this.logViolations],
    };
  }

  private advance(e: { position: number; recordedAt: number }): void {
    this.lastPosition = e.position;
    this.eventCount++;
    this.latestRecordedAt = Math.max(this.latestRecordedAt ?? e.recordedAt, e.recordedAt);
  }

  private saleAudit(saleId: string): SaleAudit {
    let sale = this.sales.get(saleId);
    if (!sale) {
      sale = {
        saleId,
        definition: undefined,
        allocations: [],
        shards: new Map(),
        reservedUnits: 0,
        releasedUnits: 0,
        expiredUnits: 0,
        cancelledUnits: 0,
        reservations: new Map(),
        buyers: new Map(),
        oddKeys: new Map(),
        violations: [],
        unknownSaleReported: false,
        stream: saleStream(saleId),
        buyerPrefix: buyerStream(saleId, ''),
        shardStreams: new Map(),
      };
      this.sales.set(saleId, sale);
    }
    return sale;
  }

  private shardAudit(sale: SaleAudit, shard: number): ShardAudit {
    let audit = sale.shards.get(shard);
    if (!audit) {
      const d = sale.definition;
      const state = initialShardState({
        saleId: sale.saleId,
        shard,
        allocated: sale.allocations[shard] ?? 0,
        inventoryMode: d?.inventoryMode ?? 'reserve',
        holdTtlMs: d?.holdTtlMs ?? 0,
        unitPrice: d?.price ?? 0,
      });
      audit = { state, heldUnits: new Map() };
      sale.shards.set(shard, audit);
    }
    return audit;
  }

  private violation(invariant: Invariant, message: string, at: EventRef): Violation {
    return { invariant, message, stream: at.stream, revision: at.revision, position: at.position };
  }

  private violate(sale: SaleAudit, invariant: Invariant, message: string, e: AuditedEvent | EventRef): void {
    sale.violations.push(this.violation(invariant, message, 'streamId' in e ? refOf(e) : e));
  }

  private onStockAllocated(sale: SaleAudit, allocations: readonly number[], e: AuditedEvent): void {
    sale.allocations = allocations;
    const d = sale.definition;
    if (d && (allocations.length !== d.shards || sum(allocations) !== d.totalStock)) {
      const message = `sale ${sale.saleId} allocates ${sum(allocations)} units over ${allocations.length} shards, but has ${d.totalStock} units over ${d.shards} shards`;
      this.violate(sale, 'allocation-matches-stock', message, e);
    }
    for (const [shard, audit] of sale.shards) {
      audit.state = { ...audit.state, allocated: allocations[shard] ?? 0 };
      this.checkShardNotOversold(sale, audit.state, e);
    }
    this.checkSaleNotOversold(sale, e);
  }

  private onQuotaClaimed(sale: SaleAudit, event: Extract<DomainEvent, { type: 'QuotaClaimed' }>, e: AuditedEvent): void {
    const { userId, reservationId, idempotencyKey, quantity } = event.data;
    let buyer = sale.buyers.get(userId);
    if (!buyer) sale.buyers.set(userId, (buyer = { active: 0, key: undefined, reservation: '', more: undefined }));
    const earlier = this.claimedUnder(sale, buyer, userId, idempotencyKey, reservationId);
    const elsewhere = earlier === undefined ? this.claimedInAnotherSale(sale, userId, idempotencyKey) : undefined;
    if (elsewhere !== undefined) {
      const message = `user ${userId} claimed quota under Idempotency-Key ${idempotencyKey} in sale ${sale.saleId}, already used in sale ${elsewhere.saleId} (reservation ${elsewhere.reservationId})`;
      this.violate(sale, 'no-duplicate-reservation', message, e);
    }
    if (earlier !== undefined) {
      const first = sale.reservations.get(earlier);
      const at = first?.claimed ? `; first at position ${first.claimPosition}` : '';
      const message = `user ${userId} claimed quota twice under Idempotency-Key ${idempotencyKey} (reservations ${earlier} and ${reservationId}${at})`;
      this.violate(sale, 'no-duplicate-reservation', message, e);
    }
    const active = buyer.active + quantity;
    buyer.active = active;
    const limit = sale.definition?.perUserLimit;
    if (limit !== undefined && active > limit) {
      this.violate(sale, 'per-user-limit', `user ${userId} holds ${active} units of sale ${sale.saleId}, above its per-user limit of ${limit}`, e);
    }
    let reservation = sale.reservations.get(reservationId);
    if (!reservation) sale.reservations.set(reservationId, (reservation = newReservation()));
    if (!reservation.claimed) {
      reservation.claimed = true;
      reservation.claimStream = e.streamId;
      reservation.claimRevision = e.revision;
      reservation.claimPosition = e.position;
      reservation.claimRecordedAt = e.recordedAt;
      reservation.userId = userId;
      reservation.quantity = quantity;
    }
  }

  /**
   * The other sale in which this user already claimed under this key, if any; notes the sale as one of the user's.
   * A key belongs to its user and the first sale it was used in (the store refuses a second claim: eventIdFor).
   */
  private claimedInAnotherSale(sale: SaleAudit, userId: string, idempotencyKey: string): { saleId: string; reservationId: string } | undefined {
    const known = this.buyerSales.get(userId);
    // Nearly every buyer: their first claim, or one more in the one sale they claim in. No array for them.
    if (known === undefined) {
      this.buyerSales.set(userId, sale.saleId);
      return undefined;
    }
    if (known === sale.saleId) return undefined;
    const saleIds = typeof known === 'string' ? [known] : known;
    if (!saleIds.includes(sale.saleId)) this.buyerSales.set(userId, [...saleIds, sale.saleId]);
    for (const saleId of saleIds) {
      const other = saleId === sale.saleId ? undefined : this.sales.get(saleId);
      const reservationId = other && reservationUnder(other, userId, idempotencyKey);
      if (reservationId !== undefined && other) return { saleId, reservationId };
    }
    return undefined;
  }

  /** The reservation first claimed under (user, key), or undefined after recording `reservationId` as that one. */
  private claimedUnder(sale: SaleAudit, buyer: BuyerAudit, userId: string, idempotencyKey: string, reservationId: string): string | undefined {
    if (userId.includes('\n') || idempotencyKey.includes('\n')) {
      const key = `${userId}\n${idempotencyKey}`;
      const earlier = sale.oddKeys.get(key);
      if (earlier === undefined) sale.oddKeys.set(key, reservationId);
      return earlier;
    }
    if (buyer.key === undefined) {
      buyer.key = idempotencyKey;
      buyer.reservation = reservationId;
      return undefined;
    }
    if (buyer.key === idempotencyKey) return buyer.reservation;
    buyer.more ??= new Map();
    const earlier = buyer.more.get(idempotencyKey);
    if (earlier === undefined) buyer.more.set(idempotencyKey, reservationId);
    return earlier;
  }

  private onShardEvent(sale: SaleAudit, event: ShardEvent, e: AuditedEvent): void {
    const shard = this.shardAudit(sale, event.data.shard);
    const orderId = event.data.orderId;
    const order = shard.state.orders.get(orderId);
    const held = shard.heldUnits.get(orderId) ?? 0;
    // Only a violation's message needs it.
    const where = (): string => `order ${orderId} on shard ${event.data.shard} of sale ${sale.saleId}`;
    switch (event.type) {
      case 'StockReserved':
        shard.heldUnits.set(orderId, held + event.data.quantity);
        sale.reservedUnits += event.data.quantity;
        break;
      case 'OrderPlaced': {
        let reservation = sale.reservations.get(orderId);
        if (reservation?.placed) {
          const message = `${where()} was already placed on shard ${reservation.placedShard} (position ${reservation.placedPosition})`;
          this.violate(sale, 'no-duplicate-reservation', message, e);
        } else {
          if (!reservation) sale.reservations.set(orderId, (reservation = newReservation()));
          reservation.placed = true;
          reservation.placedShard = event.data.shard;
          reservation.placedStream = e.streamId;
          reservation.placedRevision = e.revision;
          reservation.placedPosition = e.position;
        }
        if (event.data.stockTaken && held < event.data.quantity) {
          this.violate(sale, 'stock-accounting', `${where()} is placed as holding ${event.data.quantity} units, but only ${held} were reserved for it`, e);
        }
        break;
      }
      case 'OrderPaid':
        this.checkPayment(sale, event, order, held, where, e);
        this.recordPaymentOutcome(sale, event.data.paymentId, orderId, 'paid', e);
        break;
      case 'PaymentRefundRequested':
        this.recordPaymentOutcome(sale, event.data.paymentId, orderId, 'refund', e);
        break;
      case 'ReservationExpired':
        if (!order || !isLive(order)) {
          this.violate(sale, 'order-lifecycle', `${where()} expired while ${order ? order.status : 'never placed'}`, e);
        } else if (order.expiresAt === undefined || event.data.expiredAt < order.expiresAt) {
          const due = order.expiresAt === undefined ? 'it has no expiry' : `its hold ran until ${iso(order.expiresAt)}`;
          this.violate(sale, 'order-lifecycle', `${where()} expired at ${iso(event.data.expiredAt)}, but ${due}`, e);
        }
        sale.expiredUnits += order?.quantity ?? 0;
        break;
      case 'OrderCancelled':
        if (!order || !isLive(order)) this.violate(sale, 'order-lifecycle', `${where()} was cancelled while ${order ? order.status : 'never placed'}`, e);
        sale.cancelledUnits += order?.quantity ?? 0;
        break;
      case 'StockReleased':
        if (event.data.quantity > held) {
          this.violate(sale, 'stock-accounting', `${where()}: ${event.data.quantity} units released, but only ${held} are held for it`, e);
        } else if (order && (order.paidAt !== undefined || (order.status !== 'expired' && order.status !== 'cancelled'))) {
          // A paid order keeps its units whatever status a later (itself flagged) event gave it.
          const status = order.paidAt === undefined ? order.status : 'paid';
          this.violate(sale, 'stock-accounting', `${where()}: its stock is released while the order is ${status}`, e);
        }
        if (held > event.data.quantity) shard.heldUnits.set(orderId, held - event.data.quantity);
        else shard.heldUnits.delete(orderId);
        sale.releasedUnits += event.data.quantity;
        break;
    }
    shard.state = inventoryShardDecider.evolve(shard.state, event);
    if (event.type === 'StockReserved') {
      this.checkShardNotOversold(sale, shard.state, e);
      this.checkSaleNotOversold(sale, e);
    }
  }

  private checkPayment(
    sale: SaleAudit,
    event: Extract<ShardEvent, { type: 'OrderPaid' }>,
    order: Order | undefined,
    held: number,
    where: () => string,
    e: AuditedEvent,
  ): void {
    const fail = (why: string): void => this.violate(sale, 'paid-on-live-reservation', `${where()} paid by ${event.data.paymentId}: ${why}`, e);
    if (!order) return fail('the order was never placed');
    if (!isLive(order)) return fail(`the order was already ${order.status}`);
    if (order.expiresAt !== undefined && event.data.paidAt >= order.expiresAt) {
      return fail(`paid at ${iso(event.data.paidAt)}, at or after its hold expired at ${iso(order.expiresAt)}; a late payment must be refunded`);
    }
    if (event.data.amount !== order.amount) return fail(`amount ${event.data.amount} ≠ order amount ${order.amount}`);
    if (held < order.quantity) fail(`only ${held} of its ${order.quantity} units are reserved`);
  }

  private recordPaymentOutcome(sale: SaleAudit, paymentId: string, orderId: string, outcome: 'paid' | 'refund', e: AuditedEvent): void {
    // A log written before payments were received on their own stream has no PaymentReceived: nothing to compare.
    const receivedFor = this.paymentOrders.get(paymentId);
    if (receivedFor !== undefined && receivedFor !== orderId) {
      const what = outcome === 'paid' ? 'pays' : 'is refunded on';
      this.violate(sale, 'one-outcome-per-payment', `payment ${paymentId} ${what} order ${orderId}, but it was received for order ${receivedFor}`, e);
    }
    const earlier = this.payments.get(paymentId);
    if (earlier === undefined) {
      this.payments.set(paymentId, outcome === 'paid' ? e.position + 1 : -(e.position + 1));
      return;
    }
    const earlierOutcome = earlier > 0 ? 'paid' : 'refund';
    const what =
      earlierOutcome === outcome
        ? outcome === 'paid'
          ? 'paid twice'
          : 'refunded twice'
        : `both paid and refunded (${earlierOutcome === 'paid' ? 'paid' : 'refund requested'} first)`;
    this.violate(sale, 'one-outcome-per-payment', `payment ${paymentId} ${what}; earlier outcome at position ${Math.abs(earlier) - 1}`, e);
  }

  private checkShardNotOversold(sale: SaleAudit, s: ShardState, e: AuditedEvent): void {
    const outstanding = s.reserved - s.released;
    if (outstanding > s.allocated) {
      this.violate(sale, 'never-oversold', `shard ${s.shard} of sale ${sale.saleId} holds ${outstanding} units (reserved − released) against ${s.allocated} allocated`, e);
    }
  }

  private checkSaleNotOversold(sale: SaleAudit, e: AuditedEvent): void {
    const outstanding = sale.reservedUnits - sale.releasedUnits;
    const allocated = sum(sale.allocations);
    if (outstanding > allocated) {
      this.violate(sale, 'never-oversold', `sale ${sale.saleId} holds ${outstanding} units (reserved − released) against ${allocated} allocated`, e);
    }
  }

  private endOfLogViolations(sale: SaleAudit, now: number, graceMs: number): Violation[] {
    const found: Violation[] = [];
    for (const shard of sale.shards.values()) {
      for (const order of shard.state.orders.values()) {
        const first = sale.reservations.get(order.orderId);
        if (!first?.placed) continue;
        const placed = placedRef(first);
        const where = `order ${order.orderId} (${order.quantity} units) on shard ${shard.state.shard}`;
        if (isLive(order) && order.expiresAt !== undefined && order.expiresAt + graceMs < now) {
          const message = `${where} held until ${iso(order.expiresAt)} is neither paid, expired nor cancelled at ${iso(now)} (grace ${graceMs} ms): hold not ended`;
          found.push(this.violation('hold-ended', message, placed));
        }
        const held = shard.heldUnits.get(order.orderId) ?? 0;
        if ((order.status === 'expired' || order.status === 'cancelled') && held > 0) {
          found.push(this.violation('hold-ended', `${where} is ${order.status}, but ${held} of its units were never released`, placed));
        }
      }
    }
    for (const [reservationId, claim] of sale.reservations) {
      if (!claim.claimed || claim.placed || claim.released || claim.claimRecordedAt + graceMs >= now) continue;
      const message = `quota claim ${reservationId} of user ${claim.userId} (${claim.quantity} units) has neither an OrderPlaced nor a QuotaReleased at ${iso(now)} (grace ${graceMs} ms)`;
      found.push(this.violation('claim-settled', message, claimRef(claim)));
    }
    return found;
  }

  private saleCounts(sale: SaleAudit): SaleCounts {
    // Every allocated shard (as the API lists them), plus any shard that has events without an allocation.
    const shardNumbers = new Set([...sale.allocations.keys(), ...sale.shards.keys()]);
    const shards = [...shardNumbers]
      .sort((a, b) => a - b)
      .map((shard): ShardCounts => {
        const s = sale.shards.get(shard)?.state ?? { allocated: sale.allocations[shard] ?? 0, reserved: 0, paid: 0, released: 0 };
        return { shard, allocated: s.allocated, reserved: s.reserved, paid: s.paid, released: s.released, available: availableStock(s) };
      });
    const total = (k: keyof Omit<ShardCounts, 'shard'>): number => sum(shards.map((s) => s[k]));
    return {
      saleId: sale.saleId,
      allocated: total('allocated'),
      reserved: total('reserved'),
      paid: total('paid'),
      released: total('released'),
      expired: sale.expiredUnits,
      cancelled: sale.cancelledUnits,
      available: total('available'),
      shards,
    };
  }
}
