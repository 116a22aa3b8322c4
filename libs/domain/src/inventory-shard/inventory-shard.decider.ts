import { Decider } from '../decider';
import { InvalidCommand, NotFound, OrderNotCancellable, SoldOut } from '../errors';
import { InventoryMode } from '../sale/sale.events';
import { OrderPlaced, RefundReason, ShardEvent } from './inventory-shard.events';

export type ReserveStock = { type: 'ReserveStock'; orderId: string; userId: string; quantity: number };
export type PayOrder = { type: 'PayOrder'; orderId: string; paymentId: string; amount: number };
export type ExpireReservation = { type: 'ExpireReservation'; orderId: string };
export type CancelOrder = { type: 'CancelOrder'; orderId: string };
export type ShardCommand = ReserveStock | PayOrder | ExpireReservation | CancelOrder;

export type PaymentOutcome = 'paid' | RefundReason;

export type OrderStatus = 'reserved' | 'placed' | 'paid' | 'expired' | 'cancelled' | 'refund_pending';

export interface Order {
  readonly orderId: string;
  readonly userId: string;
  readonly quantity: number;
  readonly amount: number;
  readonly status: OrderStatus;
  /** The status the order was placed with: the body of the original 201. */
  readonly placedStatus: 'reserved' | 'placed';
  readonly stockTaken: boolean;
  readonly placedAt: number;
  readonly expiresAt?: number;
  readonly paidAt?: number;
  readonly paymentId?: string;
  /** When the hold ended without payment (expired or cancelled). */
  readonly endedAt?: number;
}

/** What the shard is born with, taken from the sale's SaleScheduled and SaleStockAllocated. */
export interface ShardConfig {
  readonly saleId: string;
  readonly shard: number;
  readonly allocated: number;
  readonly inventoryMode: InventoryMode;
  readonly holdTtlMs: number;
  readonly unitPrice: number;
}

export interface ShardState extends ShardConfig {
  /** Cumulative units taken by StockReserved. */
  readonly reserved: number;
  /** Cumulative units given back by StockReleased. */
  readonly released: number;
  /** Cumulative units paid. */
  readonly paid: number;
  readonly orders: Map<string, Order>;
  /** paymentId → its outcome: paid, or why its refund was requested; a redelivered webhook has no second effect. */
  readonly payments: Map<string, PaymentOutcome>;
}

export const availableStock = (s: Pick<ShardState, 'allocated' | 'reserved' | 'released'>): number => s.allocated - s.reserved + s.released;

/** A hold that counts against stock and has not ended. */
export const isLiveHold = (o: Order): boolean => o.status === 'reserved' || (o.status === 'placed' && o.stockTaken);

export const initialShardState = (config: ShardConfig): ShardState => ({
  ...config,
  reserved: 0,
  released: 0,
  paid: 0,
  orders: new Map(),
  payments: new Map(),
});

const ref = (s: ShardState, orderId: string) => ({ saleId: s.saleId, shard: s.shard, orderId });

const refund = (s: ShardState, o: Order, cmd: PayOrder, reason: RefundReason, now: number): ShardEvent => ({
  type: 'PaymentRefundRequested',
  data: { ...ref(s, cmd.orderId), userId: o.userId, paymentId: cmd.paymentId, amount: cmd.amount, reason, requestedAt: now },
});

const decideReserve = (cmd: ReserveStock, s: ShardState, now: number): ShardEvent[] => {
  if (s.orders.has(cmd.orderId)) return []; // a retried reservation finds the first one
  if (!Number.isInteger(cmd.quantity) || cmd.quantity < 1) throw new InvalidCommand('quantity must be a positive integer');
  if (availableStock(s) < cmd.quantity) throw new SoldOut(s.saleId, s.shard);
  const placed: OrderPlaced['data'] = {
    ...ref(s, cmd.orderId),
    userId: cmd.userId,
    quantity: cmd.quantity,
    amount: cmd.quantity * s.unitPrice,
    status: s.inventoryMode === 'reserve' ? 'reserved' : 'placed',
    stockTaken: s.inventoryMode !== 'on-payment',
    placedAt: now,
    ...(s.inventoryMode === 'reserve' ? { expiresAt: now + s.holdTtlMs } : {}),
  };
  // on-payment: the order is taken without touching stock; stock is decided when the money arrives.
  if (!placed.stockTaken) return [{ type: 'OrderPlaced', data: placed }];
  return [
    { type: 'StockReserved', data: { ...ref(s, cmd.orderId), userId: cmd.userId, quantity: cmd.quantity, reservedAt: now } },
    { type: 'OrderPlaced', data: placed },
  ];
};

const expiry = (s: ShardState, o: Order, now: number): ShardEvent[] => [
  { type: 'ReservationExpired', data: { ...ref(s, o.orderId), userId: o.userId, expiredAt: now } },
  { type: 'StockReleased', data: { ...ref(s, o.orderId), quantity: o.quantity, reason: 'expired' } },
];

const isDue = (o: Order, now: number): boolean => o.status === 'reserved' && o.expiresAt !== undefined && now >= o.expiresAt;

const decidePay = (cmd: PayOrder, s: ShardState, now: number): ShardEvent[] => {
  if (s.payments.has(cmd.paymentId)) return []; // the same webhook again: no second effect
  const o = s.orders.get(cmd.orderId);
  if (!o) throw new NotFound('order', cmd.orderId);
  if (cmd.amount !== o.amount) return [refund(s, o, cmd, 'amount_mismatch', now)];
  switch (o.status) {
    case 'paid':
      return [refund(s, o, cmd, 'already_paid', now)];
    case 'expired':
    case 'refund_pending':
      return [refund(s, o, cmd, 'order_expired', now)];
    case 'cancelled':
      return [refund(s, o, cmd, 'order_cancelled', now)];
    case 'reserved':
    case 'placed': {
      // The deadline is the truth, not the sweeper's timing: money that arrives after it loses the race.
      if (isDue(o, now)) return [...expiry(s, o, now), refund(s, o, cmd, 'order_expired', now)];
      const paid: ShardEvent = { type: 'OrderPaid', data: { ...ref(s, o.orderId), paymentId: cmd.paymentId, amount: cmd.amount, paidAt: now } };
      if (o.stockTaken) return [paid];
      if (availableStock(s) < o.quantity) return [refund(s, o, cmd, 'sold_out', now)];
      return [{ type: 'StockReserved', data: { ...ref(s, o.orderId), userId: o.userId, quantity: o.quantity, reservedAt: now } }, paid];
    }
  }
};

const decideCancel = (cmd: CancelOrder, s: ShardState, now: number): ShardEvent[] => {
  const o = s.orders.get(cmd.orderId);
  if (!o) throw new NotFound('order', cmd.orderId);
  if (o.status === 'cancelled') return [];
  if (o.status !== 'reserved' && o.status !== 'placed') throw new OrderNotCancellable(o.orderId, o.status);
  if (isDue(o, now)) return expiry(s, o, now);
  const cancelled: ShardEvent = { type: 'OrderCancelled', data: { ...ref(s, o.orderId), userId: o.userId, cancelledAt: now } };
  if (!o.stockTaken) return [cancelled];
  return [cancelled, { type: 'StockReleased', data: { ...ref(s, o.orderId), quantity: o.quantity, reason: 'cancelled' } }];
};

const withOrder = (s: ShardState, orderId: string, change: (o: Order) => Order): ShardState => {
  const o = s.orders.get(orderId);
  if (o) s.orders.set(orderId, change(o));
  return s;
};

export const inventoryShardDecider: Decider<ShardCommand, ShardEvent, ShardState, ShardConfig> = {
  initialState: initialShardState,

  decide(command, state, now) {
    switch (command.type) {
      case 'ReserveStock':
        return decideReserve(command, state, now);
      case 'PayOrder':
        return decidePay(command, state, now);
      case 'ExpireReservation': {
        const o = state.orders.get(command.orderId);
        return o && isDue(o, now) ? expiry(state, o, now) : [];
      }
      case 'CancelOrder':
        return decideCancel(command, state, now);
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case 'StockReserved': {
        const next = { ...state, reserved: state.reserved + event.data.quantity };
        return withOrder(next, event.data.orderId, (o) => ({ ...o, stockTaken: true }));
      }
      case 'OrderPlaced': {
        const d = event.data;
        state.orders.set(d.orderId, {
          orderId: d.orderId,
          userId: d.userId,
          quantity: d.quantity,
          amount: d.amount,
          status: d.status,
          placedStatus: d.status,
          stockTaken: d.stockTaken,
          placedAt: d.placedAt,
          ...(d.expiresAt === undefined ? {} : { expiresAt: d.expiresAt }),
        });
        return { ...state };
      }
      case 'OrderPaid': {
        state.payments.set(event.data.paymentId, 'paid');
        const o = state.orders.get(event.data.orderId);
        const next = { ...state, paid: state.paid + (o?.quantity ?? 0) };
        return withOrder(next, event.data.orderId, (x) => ({ ...x, status: 'paid', paidAt: event.data.paidAt, paymentId: event.data.paymentId }));
      }
      case 'ReservationExpired':
        return withOrder({ ...state }, event.data.orderId, (o) => ({ ...o, status: 'expired', endedAt: event.data.expiredAt }));
      case 'OrderCancelled':
        return withOrder({ ...state }, event.data.orderId, (o) => ({ ...o, status: 'cancelled', endedAt: event.data.cancelledAt }));
      case 'StockReleased':
        return withOrder({ ...state, released: state.released + event.data.quantity }, event.data.orderId, (o) => ({ ...o, stockTaken: false }));
      case 'PaymentRefundRequested': {
        state.payments.set(event.data.paymentId, event.data.reason);
        // Money is owed back on an order that is not paid: the buyer sees refund_pending. A mis-sized payment does not
        // end a live order: it stays payable, cancellable and expirable, else its hold and quota would never end.
        const endsOrder = (o: Order): boolean =>
          o.status !== 'paid' && !(event.data.reason === 'amount_mismatch' && (o.status === 'reserved' || o.status === 'placed'));
        return withOrder({ ...state }, event.data.orderId, (o) => (endsOrder(o) ? { ...o, status: 'refund_pending' } : o));
      }
    }
  },
};
