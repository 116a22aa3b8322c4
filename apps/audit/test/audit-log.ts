import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buyerStream, DomainEvent, inventoryStream, paymentStream, SaleDefinition, saleStream, ShardEvent } from '@flash/domain';
import { encodeEvent, EventStore, NO_STREAM, reservationIdFor, SqliteEventStore } from '@flash/event-store';
import { AuditedEvent } from '../src/audit-model';

/** 2030-01-01T00:00:00Z: the hand-built logs start here. */
export const T0 = Date.UTC(2030, 0, 1);

export const saleDefinition = (overrides: Partial<SaleDefinition> = {}): SaleDefinition => ({
  saleId: 'sale-a',
  sku: 'SKU-1',
  name: 'audited sale',
  price: 100,
  totalStock: 4,
  shards: 2,
  startsAt: T0,
  endsAt: T0 + 3_600_000,
  perUserLimit: 2,
  inventoryMode: 'reserve',
  holdTtlMs: 60_000,
  challenge: 'none',
  ...overrides,
});

/**
 * A hand-built event log, written the way the deciders would write it or deliberately not: each helper appends to
 * the stream the design names, with consecutive revisions and positions. `at` is both the decision time in the
 * event and the store's recordedAt.
 */
export class AuditLog {
  readonly events: AuditedEvent[] = [];
  private readonly revisions = new Map<string, number>();
  /** orderId → buyer and units, so the ending events can be written from the order id alone. */
  private readonly orders = new Map<string, { userId: string; quantity: number }>();

  append(streamId: string, event: DomainEvent, at: number): AuditedEvent {
    const revision = (this.revisions.get(streamId) ?? -1) + 1;
    this.revisions.set(streamId, revision);
    const audited: AuditedEvent = { streamId, revision, position: this.events.length + 1, recordedAt: at, event };
    this.events.push(audited);
    return audited;
  }

  get last(): AuditedEvent {
    const last = this.events[this.events.length - 1];
    if (!last) throw new Error('the log is empty');
    return last;
  }

  /** SaleScheduled + SaleStockAllocated, allocating evenly unless `allocations` is given. */
  scheduleSale(sale: SaleDefinition, allocations?: number[]): this {
    const even = Array.from({ length: sale.shards }, (_, i) => Math.floor(sale.totalStock / sale.shards) + (i < sale.totalStock % sale.shards ? 1 : 0));
    this.append(saleStream(sale.saleId), { type: 'SaleScheduled', data: { ...sale, scheduledAt: T0 } }, T0);
    this.append(saleStream(sale.saleId), { type: 'SaleStockAllocated', data: { saleId: sale.saleId, allocations: allocations ?? even } }, T0);
    return this;
  }

  /** QuotaClaimed on the buyer stream; returns the reservation id (derived as the API derives it). */
  claim(saleId: string, userId: string, idempotencyKey: string, quantity: number, at: number, reservationId = reservationIdFor(saleId, userId, idempotencyKey)): string {
    this.append(buyerStream(saleId, userId), { type: 'QuotaClaimed', data: { saleId, userId, reservationId, idempotencyKey, quantity, claimedAt: at } }, at);
    return reservationId;
  }

  releaseQuota(saleId: string, userId: string, reservationId: string, quantity: number, at: number): this {
    const data = { saleId, userId, reservationId, quantity, reason: 'expired' as const, releasedAt: at };
    this.append(buyerStream(saleId, userId), { type: 'QuotaReleased', data }, at);
    return this;
  }

  /** [StockReserved, OrderPlaced] on one shard, as a reserve-mode reservation is written. */
  reserve(sale: SaleDefinition, shard: number, orderId: string, userId: string, quantity: number, at: number): this {
    const ref = { saleId: sale.saleId, shard, orderId };
    this.orders.set(orderId, { userId, quantity });
    this.shard(sale.saleId, shard, { type: 'StockReserved', data: { ...ref, userId, quantity, reservedAt: at } }, at);
    this.shard(
      sale.saleId,
      shard,
      {
        type: 'OrderPlaced',
        data: { ...ref, userId, quantity, amount: quantity * sale.price, status: 'reserved', stockTaken: true, placedAt: at, expiresAt: at + sale.holdTtlMs },
      },
      at,
    );
    return this;
  }

  /** A buyer's whole reservation: the claim, then the shard's pair. Returns the order id. */
  purchase(sale: SaleDefinition, shard: number, userId: string, idempotencyKey: string, quantity: number, at: number): string {
    const orderId = this.claim(sale.saleId, userId, idempotencyKey, quantity, at);
    this.reserve(sale, shard, orderId, userId, quantity, at);
    return orderId;
  }

  /** PaymentReceived on the payment's own stream, as the webhook records it before the shard decides. */
  receivePayment(sale: SaleDefinition, shard: number, orderId: string, paymentId: string, amount: number, at: number): this {
    this.append(paymentStream(paymentId), { type: 'PaymentReceived', data: { paymentId, saleId: sale.saleId, shard, orderId, amount, receivedAt: at } }, at);
    return this;
  }

  pay(sale: SaleDefinition, shard: number, orderId: string, paymentId: string, amount: number, at: number): this {
    return this.shard(sale.saleId, shard, { type: 'OrderPaid', data: { saleId: sale.saleId, shard, orderId, paymentId, amount, paidAt: at } }, at);
  }

  /** ReservationExpired + StockReleased of the order's units, as the decider expires a due hold. */
  expire(sale: SaleDefinition, shard: number, orderId: string, at: number): this {
    const { userId, quantity } = this.order(orderId);
    const ref = { saleId: sale.saleId, shard, orderId };
    this.shard(sale.saleId, shard, { type: 'ReservationExpired', data: { ...ref, userId, expiredAt: at } }, at);
    return this.shard(sale.saleId, shard, { type: 'StockReleased', data: { ...ref, quantity, reason: 'expired' } }, at);
  }

  refund(sale: SaleDefinition, shard: number, orderId: string, paymentId: string, amount: number, at: number): this {
    const { userId } = this.order(orderId);
    const data = { saleId: sale.saleId, shard, orderId, userId, paymentId, amount, reason: 'order_expired' as const, requestedAt: at };
    return this.shard(sale.saleId, shard, { type: 'PaymentRefundRequested', data }, at);
  }

  private order(orderId: string): { userId: string; quantity: number } {
    const order = this.orders.get(orderId);
    if (!order) throw new Error(`order ${orderId} was not reserved in this log`);
    return order;
  }

  shard(saleId: string, shard: number, event: ShardEvent, at: number): this {
    this.append(inventoryStream(saleId, shard), event, at);
    return this;
  }
}

/**
 * Writes a hand-built log straight through an event store adapter, bypassing every decider, one event per append with
 * its exact expected revision. Event ids are random: a deliberately repeated event must land, not be recognised as a
 * retry. `setNow` makes the store record each event at the log's own time.
 */
export const writeLog = async (store: EventStore, log: AuditLog, setNow: (at: number) => void): Promise<void> => {
  for (const e of log.events) {
    setNow(e.recordedAt);
    const data = { ...encodeEvent(e.streamId, e.event, { decidedAt: e.recordedAt }), eventId: randomUUID() };
    await store.append(e.streamId, [data], e.revision === 0 ? NO_STREAM : e.revision - 1);
  }
};

export const tempDir = (prefix: string): string => fs.mkdtempSync(path.join(os.tmpdir(), prefix));

/** A data dir whose events.sqlite holds exactly `log`, written through the adapter at the log's own times. */
export const dataDirWith = async (log: AuditLog): Promise<string> => {
  const dir = tempDir('flash-audit-');
  let now = 0;
  const store = new SqliteEventStore({ file: path.join(dir, 'events.sqlite'), now: () => now });
  await writeLog(store, log, (at) => (now = at));
  await store.close();
  return dir;
};
