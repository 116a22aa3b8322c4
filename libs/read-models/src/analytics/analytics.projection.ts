import { RefundReason } from '@flash/domain';
import { StoredDocument } from '../document-store';
import { DocumentKey, DocumentSession, Projection, ProjectedEvent } from '../projection';

export const ANALYTICS = 'analytics';

export const ORDERS = 'orders';
export const SALE_SUMMARY = 'sale_summary';
export const SALE_TIMELINE = 'sale_timeline';
export const BUYERS = 'buyers';

export type OrderStatusName = 'reserved' | 'placed' | 'paid' | 'expired' | 'cancelled' | 'refund_pending';

/** The summary field that counts orders in each status. */
const STATUS_COUNTER: Readonly<Record<OrderStatusName, string>> = {
  reserved: 'reserved',
  placed: 'placed',
  paid: 'paid',
  expired: 'expired',
  cancelled: 'cancelled',
  refund_pending: 'refundPending',
};

export interface StatusChange {
  readonly status: OrderStatusName;
  readonly at: number;
  readonly position: number;
}

export const timelineSecond = (epochMs: number): number => Math.floor(epochMs / 1000) * 1000;
export const timelineId = (saleId: string, second: number): string => `${saleId}:${String(second)}`;
export const buyerId = (saleId: string, userId: string): string => `${saleId}:${userId}`;

/**
 * The analysts' read model, one pass over the log: `orders` (current status and its history), `sale_summary` (order
 * counts by current status, units, revenue, unique buyers), `sale_timeline` (per-second buckets of what happened,
 * on the decision time carried by the events, so a rebuild lands in the same buckets) and `buyers`.
 * Rejections never reach the log; they are counted beside it (RejectionLog).
 */
export const analyticsProjection: Projection = {
  name: ANALYTICS,
  collections: [ORDERS, SALE_SUMMARY, SALE_TIMELINE, BUYERS],
  // QuotaClaimed and QuotaReleased (the buyer streams, ~40% of the log) and PaymentReceived touch nothing here: what a
  // payment bought is on its order's shard (OrderPaid, PaymentRefundRequested).
  eventTypes: [
    'SaleScheduled',
    'SaleStockAllocated',
    'SaleClosed',
    'StockReserved',
    'OrderPlaced',
    'OrderPaid',
    'ReservationExpired',
    'OrderCancelled',
    'StockReleased',
    'PaymentRefundRequested',
  ],
  indexes: {
    [ORDERS]: [
      { name: 'by_sale_status', keys: { saleId: 1, status: 1 } },
      { name: 'by_user', keys: { userId: 1, placedAt: -1 } },
    ],
    [SALE_TIMELINE]: [{ name: 'by_sale_time', keys: { saleId: 1, t: 1 } }],
    [BUYERS]: [{ name: 'by_sale', keys: { saleId: 1 } }],
  },

  touches({ event }: ProjectedEvent): DocumentKey[] {
    const summary = { collection: SALE_SUMMARY, id: event.data.saleId };
    switch (event.type) {
      case 'SaleScheduled':
      case 'SaleStockAllocated':
      case 'SaleClosed':
      case 'StockReserved':
      case 'StockReleased':
        return [summary];
      case 'OrderPlaced':
        return [
          summary,
          { collection: ORDERS, id: event.data.orderId },
          { collection: BUYERS, id: buyerId(event.data.saleId, event.data.userId) },
          { collection: SALE_TIMELINE, id: timelineId(event.data.saleId, timelineSecond(event.data.placedAt)) },
        ];
      case 'OrderPaid':
      case 'ReservationExpired':
      case 'OrderCancelled':
      case 'PaymentRefundRequested': {
        return [summary, { collection: ORDERS, id: event.data.orderId }, { collection: SALE_TIMELINE, id: timelineId(event.data.saleId, timelineSecond(eventTime(event))) }];
      }
      case 'QuotaClaimed':
      case 'QuotaReleased':
      case 'PaymentReceived':
        return [];
    }
  },

  apply({ event, position }: ProjectedEvent, session: DocumentSession): void {
    const saleId = event.data.saleId;
    switch (event.type) {
      case 'SaleScheduled': {
        const d = event.data;
        session.update(SALE_SUMMARY, saleId, () => ({
          saleId,
          sku: d.sku,
          name: d.name,
          price: d.price,
          totalStock: d.totalStock,
          shards: d.shards,
          inventoryMode: d.inventoryMode,
          perUserLimit: d.perUserLimit,
          startsAt: d.startsAt,
          endsAt: d.endsAt,
          ...emptyCounts(),
        }));
        return;
      }
      case 'SaleStockAllocated': {
        const allocated = event.data.allocations.reduce((sum, units) => sum + units, 0);
        updateSummary(session, saleId, (s) => {
          s.allocated = allocated;
        });
        return;
      }
      case 'SaleClosed':
        updateSummary(session, saleId, (s) => {
          s.closedAt = event.data.closedAt;
          s.closeReason = event.data.reason;
        });
        return;
      case 'StockReserved':
        updateSummary(session, saleId, (s) => {
          s.unitsTaken = num(s.unitsTaken) + event.data.quantity;
        });
        return;
      case 'StockReleased':
        updateSummary(session, saleId, (s) => {
          s.unitsReleased = num(s.unitsReleased) + event.data.quantity;
        });
        return;
      case 'QuotaClaimed':
      case 'QuotaReleased':
      case 'PaymentReceived':
        return;
      case 'OrderPlaced': {
        const d = event.data;
        session.update(ORDERS, d.orderId, () => ({
          orderId: d.orderId,
          saleId,
          shard: d.shard,
          userId: d.userId,
          quantity: d.quantity,
          amount: d.amount,
          status: d.status,
          placedAt: d.placedAt,
          ...(d.expiresAt === undefined ? {} : { expiresAt: d.expiresAt }),
          history: [{ status: d.status, at: d.placedAt, position }],
        }));
        const buyerKey = buyerId(saleId, d.userId);
        const buyer = session.get(BUYERS, buyerKey);
        // A buyer is new if no document exists yet, or if it was created by this very event in an earlier delivery.
        const newBuyer = buyer === undefined || buyer.firstPosition === position;
        session.update(BUYERS, buyerKey, (b) => ({
          saleId,
          userId: d.userId,
          firstPosition: b?.firstPosition ?? position,
          firstOrderAt: b?.firstOrderAt ?? d.placedAt,
          orders: num(b?.orders) + 1,
          units: num(b?.units) + d.quantity,
          orderIds: [...strings(b?.orderIds), d.orderId],
        }));
        updateSummary(session, saleId, (s) => {
          const orders = num(s.orders);
          const uniqueBuyers = num(s.uniqueBuyers);
          bump(s, d.status, 1);
          s.orders = orders + 1;
          s.uniqueBuyers = uniqueBuyers + (newBuyer ? 1 : 0);
        });
        bumpTimeline(session, saleId, d.placedAt, 'reserved');
        return;
      }
      case 'OrderPaid': {
        const d = event.data;
        const previous = transition(session, d.orderId, position, 'paid', d.paidAt, { paidAt: d.paidAt, paymentId: d.paymentId });
        if (previous === undefined) return;
        updateSummary(session, saleId, (s) => {
          const revenue = num(s.revenue);
          bump(s, previous, -1);
          bump(s, 'paid', 1);
          s.revenue = revenue + d.amount;
        });
        bumpTimeline(session, saleId, d.paidAt, 'paid');
        return;
      }
      case 'ReservationExpired':
      case 'OrderCancelled': {
        const status = event.type === 'ReservationExpired' ? 'expired' : 'cancelled';
        const at = eventTime(event);
        const previous = transition(session, event.data.orderId, position, status, at, { endedAt: at });
        if (previous === undefined) return;
        updateSummary(session, saleId, (s) => {
          bump(s, previous, -1);
          bump(s, status, 1);
        });
        bumpTimeline(session, saleId, at, status);
        return;
      }
      case 'PaymentRefundRequested': {
        const d = event.data;
        const before = statusBefore(session.get(ORDERS, d.orderId), position);
        if (before === undefined) return;
        const after = endsOrder(before, d.reason) ? 'refund_pending' : before;
        session.update(ORDERS, d.orderId, (o) =>
          Object.assign({}, o, {
            status: after,
            history: after === before ? changes(o) : [...changes(o), { status: after, at: d.requestedAt, position }],
            refunds: [...(Array.isArray(o?.refunds) ? (o.refunds as unknown[]) : []), { paymentId: d.paymentId, amount: d.amount, reason: d.reason, at: d.requestedAt }],
          }),
        );
        updateSummary(session, saleId, (s) => {
          const refunds = num(s.refunds);
          const refundAmount = num(s.refundAmount);
          if (after !== before) {
            bump(s, before, -1);
            bump(s, after, 1);
          }
          s.refunds = refunds + 1;
          s.refundAmount = refundAmount + d.amount;
        });
        bumpTimeline(session, saleId, d.requestedAt, 'refunds');
        return;
      }
    }
  },
};

const emptyCounts = () => ({
  allocated: 0,
  unitsTaken: 0,
  unitsReleased: 0,
  orders: 0,
  reserved: 0,
  placed: 0,
  paid: 0,
  expired: 0,
  cancelled: 0,
  refundPending: 0,
  uniqueBuyers: 0,
  revenue: 0,
  refunds: 0,
  refundAmount: 0,
});

const num = (value: unknown): number => (typeof value === 'number' ? value : 0);
const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);
const changes = (order: StoredDocument | undefined): StatusChange[] => (Array.isArray(order?.history) ? (order.history as StatusChange[]) : []);

function eventTime(event: ProjectedEvent['event']): number {
  switch (event.type) {
    case 'OrderPaid':
      return event.data.paidAt;
    case 'ReservationExpired':
      return event.data.expiredAt;
    case 'OrderCancelled':
      return event.data.cancelledAt;
    case 'PaymentRefundRequested':
      return event.data.requestedAt;
    default:
      return 0;
  }
}

/** The order's status just before `position`, read from its history: right even when the document is already ahead. */
export function statusBefore(order: StoredDocument | undefined, position: number): OrderStatusName | undefined {
  let status: OrderStatusName | undefined;
  for (const change of changes(order)) if (change.position < position) status = change.status;
  return status;
}

/** The shard decider's rule: a refund ends an unpaid order, except an amount mismatch on a live hold (it can still be paid). */
const endsOrder = (status: OrderStatusName, reason: RefundReason): boolean =>
  status !== 'paid' && !(reason === 'amount_mismatch' && (status === 'reserved' || status === 'placed'));

/** Moves an order to `status`; returns the status it had before this event, undefined for an unknown order. */
function transition(session: DocumentSession, orderId: string, position: number, status: OrderStatusName, at: number, fields: Record<string, unknown>): OrderStatusName | undefined {
  const previous = statusBefore(session.get(ORDERS, orderId), position);
  if (previous === undefined) return undefined;
  // Object.assign, not `{ ...o, ...fields }`: the same keys in the same order, but a spread that adds keys gives every
  // document a hidden class of its own on this V8 (slow to copy, read and stringify), where assign shares them.
  session.update(ORDERS, orderId, (o) => Object.assign({}, o, fields, { status, history: [...changes(o), { status, at, position }] }));
  return previous;
}

/**
 * Changes the sale's summary: `change` edits a copy of it (or a fresh one), made here once per event. The keys keep
 * their order: existing ones stay where they are, new ones are appended in the order they are set.
 */
function updateSummary(session: DocumentSession, saleId: string, change: (summary: Record<string, unknown>) => void): void {
  session.update(SALE_SUMMARY, saleId, (current) => {
    const next: Record<string, unknown> = current ? { ...current } : { saleId, ...emptyCounts() };
    change(next);
    next.available = num(next.allocated) - num(next.unitsTaken) + num(next.unitsReleased);
    return next;
  });
}

/** Adds `by` to the summary field that counts orders in `status` (in place, on updateSummary's copy). */
const bump = (summary: Record<string, unknown>, status: OrderStatusName, by: number): void => {
  const field = STATUS_COUNTER[status];
  summary[field] = num(summary[field]) + by;
};

function bumpTimeline(session: DocumentSession, saleId: string, at: number, field: 'reserved' | 'paid' | 'expired' | 'cancelled' | 'refunds'): void {
  const t = timelineSecond(at);
  session.update(SALE_TIMELINE, timelineId(saleId, t), (bucket) => ({
    saleId,
    t,
    reserved: num(bucket?.reserved),
    paid: num(bucket?.paid),
    expired: num(bucket?.expired),
    cancelled: num(bucket?.cancelled),
    refunds: num(bucket?.refunds),
    [field]: num(bucket?.[field]) + 1,
  }));
}
