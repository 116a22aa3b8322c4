import { DeciderSpec } from '../../test/decider-spec';
import { fold } from '../decider';
import { InvalidCommand, NotFound, OrderNotCancellable, SoldOut } from '../errors';
import { InventoryMode } from '../sale/sale.events';
import { availableStock, inventoryShardDecider, isLiveHold, PayOrder, ReserveStock, ShardConfig } from './inventory-shard.decider';
import { RefundReason, ReleaseReason, ShardEvent } from './inventory-shard.events';

const SALE = 'sale-1';
const SHARD = 2;
const USER = 'alice';
const UNIT_PRICE = 1_000;
const HOLD_TTL_MS = 60_000;
const T0 = 10_000;
const DEADLINE = T0 + HOLD_TTL_MS;

const config = (inventoryMode: InventoryMode, allocated = 5): ShardConfig => ({
  saleId: SALE,
  shard: SHARD,
  allocated,
  inventoryMode,
  holdTtlMs: HOLD_TTL_MS,
  unitPrice: UNIT_PRICE,
});
const spec = (inventoryMode: InventoryMode, allocated = 5) => DeciderSpec.for(inventoryShardDecider, config(inventoryMode, allocated));

const ref = (orderId: string) => ({ saleId: SALE, shard: SHARD, orderId });

const reserve = (orderId: string, quantity = 1): ReserveStock => ({ type: 'ReserveStock', orderId, userId: USER, quantity });
const pay = (orderId: string, paymentId: string, amount = UNIT_PRICE): PayOrder => ({ type: 'PayOrder', orderId, paymentId, amount });

const stockReserved = (orderId: string, quantity = 1, reservedAt = T0): ShardEvent => ({
  type: 'StockReserved',
  data: { ...ref(orderId), userId: USER, quantity, reservedAt },
});
/** What a reservation appends in reserve mode: a hold with a deadline. */
const held = (orderId: string, quantity = 1, at = T0): ShardEvent[] => [
  stockReserved(orderId, quantity, at),
  {
    type: 'OrderPlaced',
    data: { ...ref(orderId), userId: USER, quantity, amount: quantity * UNIT_PRICE, status: 'reserved', stockTaken: true, placedAt: at, expiresAt: at + HOLD_TTL_MS },
  },
];
/** What an order appends in on-order mode: stock taken for good, no deadline. */
const placedOnOrder = (orderId: string, quantity = 1, at = T0): ShardEvent[] => [
  stockReserved(orderId, quantity, at),
  {
    type: 'OrderPlaced',
    data: { ...ref(orderId), userId: USER, quantity, amount: quantity * UNIT_PRICE, status: 'placed', stockTaken: true, placedAt: at },
  },
];
/** What an order appends in on-payment mode: no stock yet. */
const placedOnPayment = (orderId: string, quantity = 1, at = T0): ShardEvent[] => [
  {
    type: 'OrderPlaced',
    data: { ...ref(orderId), userId: USER, quantity, amount: quantity * UNIT_PRICE, status: 'placed', stockTaken: false, placedAt: at },
  },
];
const paid = (orderId: string, paymentId: string, amount = UNIT_PRICE, paidAt = T0 + 1_000): ShardEvent => ({
  type: 'OrderPaid',
  data: { ...ref(orderId), paymentId, amount, paidAt },
});
const expired = (orderId: string, expiredAt = DEADLINE): ShardEvent => ({ type: 'ReservationExpired', data: { ...ref(orderId), userId: USER, expiredAt } });
const cancelled = (orderId: string, cancelledAt = T0 + 1_000): ShardEvent => ({ type: 'OrderCancelled', data: { ...ref(orderId), userId: USER, cancelledAt } });
const stockReleased = (orderId: string, reason: ReleaseReason, quantity = 1): ShardEvent => ({
  type: 'StockReleased',
  data: { ...ref(orderId), quantity, reason },
});
const refundRequested = (orderId: string, paymentId: string, reason: RefundReason, requestedAt: number, amount = UNIT_PRICE): ShardEvent => ({
  type: 'PaymentRefundRequested',
  data: { ...ref(orderId), userId: USER, paymentId, amount, reason, requestedAt },
});

describe('inventory shard decider', () => {
  describe('ReserveStock', () => {
    it('holds stock until now + holdTtlMs in reserve mode', () => {
      spec('reserve').when(reserve('o1', 2), T0).then(held('o1', 2, T0));
    });

    it('takes stock with no deadline in on-order mode', () => {
      spec('on-order').when(reserve('o1', 2), T0).then(placedOnOrder('o1', 2, T0));
    });

    it('places the order without taking stock in on-payment mode', () => {
      spec('on-payment').when(reserve('o1', 2), T0).then(placedOnPayment('o1', 2, T0));
    });

    it('reserves the last units of the shard', () => {
      spec('reserve', 3).given(held('o1', 1)).when(reserve('o2', 2), T0).then(held('o2', 2, T0));
    });

    it('rejects a reservation when the shard is empty', () => {
      spec('reserve', 2)
        .given([...held('o1', 1), ...held('o2', 1)])
        .when(reserve('o3', 1))
        .thenThrows(SoldOut, { code: 'SOLD_OUT', details: { saleId: SALE, shard: SHARD } });
    });

    it('rejects a reservation larger than the stock left', () => {
      spec('on-order', 3).given(placedOnOrder('o1', 2)).when(reserve('o2', 2)).thenThrows(SoldOut);
    });

    it('reserves stock that an expired hold gave back', () => {
      spec('reserve', 1)
        .given([...held('o1', 1), expired('o1'), stockReleased('o1', 'expired')])
        .when(reserve('o2', 1), DEADLINE + 5)
        .then(held('o2', 1, DEADLINE + 5));
    });

    it('accepts more on-payment orders than stock, since stock is decided at payment', () => {
      spec('on-payment', 1).given(placedOnPayment('o1', 1)).when(reserve('o2', 1), T0).then(placedOnPayment('o2', 1, T0));
    });

    it('rejects an on-payment order once paid orders took all the stock', () => {
      spec('on-payment', 1)
        .given([...placedOnPayment('o1', 1), stockReserved('o1', 1, T0 + 1_000), paid('o1', 'p1')])
        .when(reserve('o2', 1))
        .thenThrows(SoldOut);
    });

    it('decides nothing for a retried reservation of the same order, even once the shard is empty', () => {
      spec('reserve', 1).given(held('o1', 1)).when(reserve('o1', 1), T0 + 50).thenNothing();
    });

    it.each([0, -2, 1.5])('rejects a quantity of %p', (quantity) => {
      spec('reserve').when(reserve('o1', quantity)).thenThrows(InvalidCommand, { code: 'VALIDATION_FAILED' });
    });
  });

  describe('PayOrder', () => {
    it('pays a held order before its deadline', () => {
      spec('reserve')
        .given(held('o1'))
        .when(pay('o1', 'p1'), DEADLINE - 1)
        .then([paid('o1', 'p1', UNIT_PRICE, DEADLINE - 1)]);
    });

    it('pays an on-order order, which has no deadline', () => {
      spec('on-order')
        .given(placedOnOrder('o1', 2))
        .when(pay('o1', 'p1', 2 * UNIT_PRICE), T0 + 10 * HOLD_TTL_MS)
        .then([paid('o1', 'p1', 2 * UNIT_PRICE, T0 + 10 * HOLD_TTL_MS)]);
    });

    it('decides nothing when the same payment arrives twice', () => {
      spec('reserve').given([...held('o1'), paid('o1', 'p1')]).when(pay('o1', 'p1')).thenNothing();
    });

    it('decides nothing when a refunded payment arrives again', () => {
      spec('reserve')
        .given([...held('o1'), refundRequested('o1', 'p1', 'amount_mismatch', T0 + 1, 1)])
        .when(pay('o1', 'p1', 1))
        .thenNothing();
    });

    it('expires the hold and refunds a payment that arrives at the deadline', () => {
      spec('reserve')
        .given(held('o1', 2))
        .when(pay('o1', 'p1', 2 * UNIT_PRICE), DEADLINE)
        .then([
          expired('o1', DEADLINE),
          stockReleased('o1', 'expired', 2),
          refundRequested('o1', 'p1', 'order_expired', DEADLINE, 2 * UNIT_PRICE),
        ]);
    });

    it('refunds a payment for an expired order', () => {
      spec('reserve')
        .given([...held('o1'), expired('o1'), stockReleased('o1', 'expired')])
        .when(pay('o1', 'p1'), DEADLINE + 10)
        .then([refundRequested('o1', 'p1', 'order_expired', DEADLINE + 10)]);
    });

    it('refunds a payment for a cancelled order', () => {
      spec('reserve')
        .given([...held('o1'), cancelled('o1'), stockReleased('o1', 'cancelled')])
        .when(pay('o1', 'p1'), T0 + 2_000)
        .then([refundRequested('o1', 'p1', 'order_cancelled', T0 + 2_000)]);
    });

    it('refunds a payment for an order already awaiting a refund', () => {
      spec('on-payment', 1)
        .given([
          ...placedOnPayment('o1'),
          ...placedOnPayment('o2'),
          stockReserved('o1', 1, T0 + 1_000),
          paid('o1', 'p1'),
          refundRequested('o2', 'p2', 'sold_out', T0 + 2_000),
        ])
        .when(pay('o2', 'p3'), T0 + 3_000)
        .then([refundRequested('o2', 'p3', 'order_expired', T0 + 3_000)]);
    });

    it('refunds a payment whose amount differs from the order', () => {
      spec('reserve')
        .given(held('o1', 2))
        .when(pay('o1', 'p1', UNIT_PRICE), T0 + 1_000)
        .then([refundRequested('o1', 'p1', 'amount_mismatch', T0 + 1_000, UNIT_PRICE)]);
    });

    it('keeps a hold payable with the right amount after a mis-sized payment was refunded', () => {
      spec('reserve')
        .given([...held('o1', 2), refundRequested('o1', 'p1', 'amount_mismatch', T0 + 1_000, UNIT_PRICE)])
        .when(pay('o1', 'p2', 2 * UNIT_PRICE), T0 + 2_000)
        .then([paid('o1', 'p2', 2 * UNIT_PRICE, T0 + 2_000)]);
    });

    it('still expires a hold whose only payment had the wrong amount', () => {
      spec('reserve')
        .given([...held('o1'), refundRequested('o1', 'p1', 'amount_mismatch', T0 + 1_000, 1)])
        .when({ type: 'ExpireReservation', orderId: 'o1' }, DEADLINE)
        .then([expired('o1', DEADLINE), stockReleased('o1', 'expired')]);
    });

    it('refunds a second payment with another paymentId for an order already paid', () => {
      spec('reserve')
        .given([...held('o1'), paid('o1', 'p1')])
        .when(pay('o1', 'p2'), T0 + 2_000)
        .then([refundRequested('o1', 'p2', 'already_paid', T0 + 2_000)]);
    });

    it('takes the stock at payment in on-payment mode', () => {
      spec('on-payment', 1)
        .given(placedOnPayment('o1', 1))
        .when(pay('o1', 'p1'), T0 + 1_000)
        .then([stockReserved('o1', 1, T0 + 1_000), paid('o1', 'p1', UNIT_PRICE, T0 + 1_000)]);
    });

    it('refunds an on-payment order paid after the stock ran out', () => {
      spec('on-payment', 1)
        .given([...placedOnPayment('o1'), ...placedOnPayment('o2'), stockReserved('o1', 1, T0 + 1_000), paid('o1', 'p1')])
        .when(pay('o2', 'p2'), T0 + 2_000)
        .then([refundRequested('o2', 'p2', 'sold_out', T0 + 2_000)]);
    });

    it('rejects a payment for an order the shard does not know', () => {
      spec('reserve').when(pay('ghost', 'p1')).thenThrows(NotFound, { code: 'NOT_FOUND' });
    });
  });

  describe('ExpireReservation', () => {
    const expire = { type: 'ExpireReservation', orderId: 'o1' } as const;

    it('decides nothing before the deadline', () => {
      spec('reserve').given(held('o1')).when(expire, DEADLINE - 1).thenNothing();
    });

    it('expires a hold at its deadline and gives its stock back', () => {
      spec('reserve')
        .given(held('o1', 3))
        .when(expire, DEADLINE)
        .then([expired('o1', DEADLINE), stockReleased('o1', 'expired', 3)]);
    });

    it('decides nothing for a paid order', () => {
      spec('reserve').given([...held('o1'), paid('o1', 'p1')]).when(expire, DEADLINE + 1).thenNothing();
    });

    it('decides nothing for a hold that already expired', () => {
      spec('reserve')
        .given([...held('o1'), expired('o1'), stockReleased('o1', 'expired')])
        .when(expire, DEADLINE + 1)
        .thenNothing();
    });

    it('decides nothing for a cancelled order', () => {
      spec('reserve')
        .given([...held('o1'), cancelled('o1'), stockReleased('o1', 'cancelled')])
        .when(expire, DEADLINE + 1)
        .thenNothing();
    });

    it('never expires an on-order order', () => {
      spec('on-order').given(placedOnOrder('o1')).when(expire, DEADLINE * 100).thenNothing();
    });

    it('decides nothing for an order the shard does not know', () => {
      spec('reserve').when(expire, DEADLINE).thenNothing();
    });
  });

  describe('CancelOrder', () => {
    const cancel = { type: 'CancelOrder', orderId: 'o1' } as const;

    it('cancels a hold and gives its stock back', () => {
      spec('reserve')
        .given(held('o1', 2))
        .when(cancel, T0 + 1_000)
        .then([cancelled('o1', T0 + 1_000), stockReleased('o1', 'cancelled', 2)]);
    });

    it('cancels an on-order order and gives its stock back', () => {
      spec('on-order')
        .given(placedOnOrder('o1'))
        .when(cancel, T0 + 1_000)
        .then([cancelled('o1', T0 + 1_000), stockReleased('o1', 'cancelled')]);
    });

    it('cancels an unpaid on-payment order without touching stock', () => {
      spec('on-payment').given(placedOnPayment('o1')).when(cancel, T0 + 1_000).then([cancelled('o1', T0 + 1_000)]);
    });

    it('expires rather than cancels a hold past its deadline', () => {
      spec('reserve')
        .given(held('o1'))
        .when(cancel, DEADLINE + 1)
        .then([expired('o1', DEADLINE + 1), stockReleased('o1', 'expired')]);
    });

    it('rejects cancelling a paid order', () => {
      spec('reserve')
        .given([...held('o1'), paid('o1', 'p1')])
        .when(cancel)
        .thenThrows(OrderNotCancellable, { code: 'ORDER_NOT_CANCELLABLE', details: { orderId: 'o1', status: 'paid' } });
    });

    it('rejects cancelling an expired order', () => {
      spec('reserve')
        .given([...held('o1'), expired('o1'), stockReleased('o1', 'expired')])
        .when(cancel, DEADLINE + 1)
        .thenThrows(OrderNotCancellable, { details: { orderId: 'o1', status: 'expired' } });
    });

    it('decides nothing when the order is already cancelled', () => {
      spec('reserve')
        .given([...held('o1'), cancelled('o1'), stockReleased('o1', 'cancelled')])
        .when(cancel, T0 + 2_000)
        .thenNothing();
    });

    it('rejects cancelling an order the shard does not know', () => {
      spec('reserve').when(cancel).thenThrows(NotFound, { code: 'NOT_FOUND' });
    });
  });

  describe('evolve', () => {
    const foldShard = (mode: InventoryMode, allocated: number, events: ShardEvent[]) =>
      fold(inventoryShardDecider.evolve, inventoryShardDecider.initialState(config(mode, allocated)), events);

    it('counts held, released and paid units', () => {
      const state = foldShard('reserve', 10, [
        ...held('o1', 2),
        ...held('o2', 3),
        paid('o2', 'p2', 3 * UNIT_PRICE),
        ...held('o3', 1),
        expired('o3'),
        stockReleased('o3', 'expired'),
      ]);
      expect(state).toMatchObject({ reserved: 6, released: 1, paid: 3 });
      expect(availableStock(state)).toBe(5);
      expect(state.payments.get('p2')).toBe('paid');
      expect(state.orders.get('o2')).toMatchObject({ status: 'paid', paymentId: 'p2', placedStatus: 'reserved' });
      expect(state.orders.get('o3')).toMatchObject({ status: 'expired', stockTaken: false });
    });

    it('counts only holds that still take stock as live', () => {
      const state = foldShard('on-payment', 5, [...placedOnPayment('o1'), ...placedOnPayment('o2'), stockReserved('o2', 1, T0 + 1), paid('o2', 'p2')]);
      expect(isLiveHold(state.orders.get('o1')!)).toBe(false);
      expect(isLiveHold(state.orders.get('o2')!)).toBe(false);
      const holds = foldShard('reserve', 5, held('o1'));
      expect(isLiveHold(holds.orders.get('o1')!)).toBe(true);
    });

    it('shows a refund of an unpaid order as refund_pending and leaves a paid one paid', () => {
      const state = foldShard('reserve', 5, [
        ...held('o1'),
        expired('o1'),
        stockReleased('o1', 'expired'),
        refundRequested('o1', 'p1', 'order_expired', DEADLINE + 1),
        ...held('o2'),
        paid('o2', 'p2'),
        refundRequested('o2', 'p3', 'already_paid', T0 + 2_000),
      ]);
      expect(state.orders.get('o1')?.status).toBe('refund_pending');
      expect(state.orders.get('o2')?.status).toBe('paid');
      expect(state.payments.get('p1')).toBe('order_expired');
    });
  });
});
