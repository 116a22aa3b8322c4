import { DomainEvent, inventoryStream, saleStream, ShardEvent } from '@flash/domain';
import { encodeEvent, EventStore, NO_STREAM } from '@flash/event-store';

export interface HistoryOptions {
  readonly saleId: string;
  readonly stock: number;
  readonly shards: number;
  readonly orders: number;
  /** Deterministic pseudo-random choices. */
  readonly seed: number;
}

/** A tiny deterministic generator (mulberry32), so histories are replayable from their seed. */
export const random = (seed: number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

/** One order of the fixture as the generator decided it: what happened to it and when (independent of any read model). */
export interface FixtureOrder {
  readonly orderId: string;
  readonly userId: string;
  readonly shard: number;
  readonly quantity: number;
  readonly amount: number;
  readonly placedAt: number;
  /** Its status at the end. */
  readonly fate: 'reserved' | 'paid' | 'expired' | 'cancelled' | 'refund_pending';
  readonly paidAt?: number;
  readonly expiredAt?: number;
  readonly cancelledAt?: number;
  /** A late payment refused and refunded (reason order_expired), after the order expired. */
  readonly refundRequestedAt?: number;
}

/**
 * Appends a plausible sale to a store: scheduled, allocated, orders placed over several seconds, and each one then
 * paid, expired, cancelled, left live, or paid late (refund). Returns the counts the read model must show, and every
 * order with its fate (`ledger`).
 */
export async function appendSaleHistory(store: EventStore, options: HistoryOptions) {
  const rnd = random(options.seed);
  const { saleId, stock, shards } = options;
  const start = 1_800_000_000_000;
  const revisions = new Map<string, number>();
  const append = async (stream: string, events: DomainEvent[]) => {
    const expected = revisions.get(stream) ?? NO_STREAM;
    const result = await store.append(stream, events.map((e) => encodeEvent(stream, e)), expected);
    revisions.set(stream, result.nextExpectedRevision);
  };
  await append(saleStream(saleId), [
    {
      type: 'SaleScheduled',
      data: {
        saleId,
        sku: 'SKU',
        name: 'Sale',
        price: 100,
        totalStock: stock,
        shards,
        startsAt: start,
        endsAt: start + 3_600_000,
        perUserLimit: 3,
        inventoryMode: 'reserve',
        holdTtlMs: 60_000,
        challenge: 'none',
        scheduledAt: start - 1000,
      },
    },
    { type: 'SaleStockAllocated', data: { saleId, allocations: Array.from({ length: shards }, (_, i) => Math.floor(stock / shards) + (i < stock % shards ? 1 : 0)) } },
  ]);
  const counts = { orders: 0, reserved: 0, paid: 0, expired: 0, cancelled: 0, refundPending: 0, units: 0, released: 0, buyers: new Set<string>() };
  const ledger: FixtureOrder[] = [];
  for (let i = 0; i < options.orders && counts.units - counts.released < stock; i++) {
    const shard = i % shards;
    const stream = inventoryStream(saleId, shard);
    const orderId = `order-${String(i)}`;
    const userId = `user-${String(Math.floor(rnd() * options.orders * 0.6))}`;
    const quantity = 1;
    const at = start + Math.floor(rnd() * 20_000);
    const placed: ShardEvent[] = [
      { type: 'StockReserved', data: { saleId, shard, orderId, userId, quantity, reservedAt: at } },
      { type: 'OrderPlaced', data: { saleId, shard, orderId, userId, quantity, amount: 100, status: 'reserved', stockTaken: true, placedAt: at, expiresAt: at + 60_000 } },
    ];
    await append(stream, placed);
    counts.orders += 1;
    counts.units += quantity;
    counts.buyers.add(userId);
    const order = { orderId, userId, shard, quantity, amount: 100, placedAt: at };
    const fate = rnd();
    if (fate < 0.4) {
      await append(stream, [{ type: 'OrderPaid', data: { saleId, shard, orderId, paymentId: `pay-${orderId}`, amount: 100, paidAt: at + 5000 } }]);
      counts.paid += 1;
      ledger.push({ ...order, fate: 'paid', paidAt: at + 5000 });
    } else if (fate < 0.7 || fate >= 0.9) {
      await append(stream, [
        { type: 'ReservationExpired', data: { saleId, shard, orderId, userId, expiredAt: at + 60_000 } },
        { type: 'StockReleased', data: { saleId, shard, orderId, quantity, reason: 'expired' } },
      ]);
      counts.released += quantity;
      if (fate >= 0.9) {
        // Paid after the deadline: refused and refunded; the order leaves `expired` for `refund_pending`.
        await append(stream, [
          { type: 'PaymentRefundRequested', data: { saleId, shard, orderId, userId, paymentId: `late-${orderId}`, amount: 100, reason: 'order_expired', requestedAt: at + 61_000 } },
        ]);
        counts.refundPending += 1;
        ledger.push({ ...order, fate: 'refund_pending', expiredAt: at + 60_000, refundRequestedAt: at + 61_000 });
      } else {
        counts.expired += 1;
        ledger.push({ ...order, fate: 'expired', expiredAt: at + 60_000 });
      }
    } else if (fate < 0.8) {
      await append(stream, [
        { type: 'OrderCancelled', data: { saleId, shard, orderId, userId, cancelledAt: at + 2000 } },
        { type: 'StockReleased', data: { saleId, shard, orderId, quantity, reason: 'cancelled' } },
      ]);
      counts.cancelled += 1;
      counts.released += quantity;
      ledger.push({ ...order, fate: 'cancelled', cancelledAt: at + 2000 });
    } else {
      counts.reserved += 1;
      ledger.push({ ...order, fate: 'reserved' });
    }
  }
  return { ...counts, uniqueBuyers: counts.buyers.size, available: stock - counts.units + counts.released, ledger };
}
