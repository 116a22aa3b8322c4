import { inventoryStream, QuotaReleased } from '@flash/domain';
import { ExpiryProcess } from './expiry.process';
import { DAY, MINUTE, PlacedHold, SagaFixture, SECOND, T0 } from '../../test/saga-fixture';

const HOLD_TTL = MINUTE;

describe('expiry saga (fake clock)', () => {
  let fx: SagaFixture;
  beforeEach(async () => {
    fx = await SagaFixture.start({ sale: { holdTtlMs: HOLD_TTL } });
  });
  afterEach(() => fx.stop());

  const shardEventTypes = async (shard: number, orderId: string): Promise<string[]> =>
    (await fx.store.readStream(inventoryStream(fx.sale.saleId, shard))).filter((r) => r.data.orderId === orderId).map((r) => r.type);

  describe('a hold at its deadline', () => {
    it('is not expired one millisecond before its deadline', async () => {
      const hold = await fx.reserve('alice', 'k1');
      expect(hold.order.expiresAt).toBe(T0 + HOLD_TTL);

      await fx.tickAt(T0 + HOLD_TTL - 1);
      await fx.tick();

      expect((await fx.order(hold))?.status).toBe('reserved');
      expect(await shardEventTypes(hold.shard, hold.orderId)).toEqual(['StockReserved', 'OrderPlaced']);
      expect((await fx.buyer('alice')).claimedQuantity).toBe(1);
    });

    it('is expired and its stock released at the deadline, exactly once however often the sweep runs', async () => {
      const hold = await fx.reserve('alice', 'k1');

      await fx.tickAt(T0 + HOLD_TTL);
      for (let i = 1; i <= 3; i++) await fx.tickAt(T0 + HOLD_TTL + i * SECOND);

      expect(await shardEventTypes(hold.shard, hold.orderId)).toEqual(['StockReserved', 'OrderPlaced', 'ReservationExpired', 'StockReleased']);
      const shard = await fx.shard(hold.shard);
      expect(shard.orders.get(hold.orderId)).toMatchObject({ status: 'expired', endedAt: T0 + HOLD_TTL, stockTaken: false });
      expect(shard.released).toBe(1);
      expect(shard.reserved - shard.released).toBe(0);
    });

    it("gives the buyer's quota back with reason 'expired' on a following tick, once", async () => {
      const hold = await fx.reserve('alice', 'k1', 2);
      expect((await fx.buyer('alice')).claimedQuantity).toBe(2);

      await fx.tickAt(T0 + HOLD_TTL);
      await fx.tick();
      await fx.tick();

      const released = (await fx.eventsAbout(hold.orderId, 'QuotaReleased')) as QuotaReleased[];
      expect(released).toHaveLength(1);
      expect(released[0]?.data).toMatchObject({ userId: 'alice', reservationId: hold.orderId, quantity: 2, reason: 'expired' });
      expect((await fx.buyer('alice')).claimedQuantity).toBe(0);
      // The quota is usable again: the buyer can hold the full per-user limit once more.
      await expect(fx.reserve('alice', 'k2', 2)).resolves.toMatchObject({ userId: 'alice' });
    });

    it('leaves a hold that does not belong to the deadline alone while expiring the one that does', async () => {
      const first = await fx.reserve('alice', 'k1');
      fx.clock.set(T0 + 10 * SECOND);
      const second = await fx.reserve('bob', 'k1');

      await fx.tickAt(T0 + HOLD_TTL);

      expect((await fx.order(first))?.status).toBe('expired');
      expect((await fx.order(second))?.status).toBe('reserved');
      await fx.tickAt(T0 + 10 * SECOND + HOLD_TTL);
      expect((await fx.order(second))?.status).toBe('expired');
    });
  });

  describe('clock jumps', () => {
    it('never expires a hold early when the clock jumps backwards after it was placed', async () => {
      fx.clock.set(T0 + 5 * MINUTE);
      const hold = await fx.reserve('alice', 'k1');
      const deadline = T0 + 5 * MINUTE + HOLD_TTL;

      await fx.tickAt(T0 - DAY);
      await fx.tickAt(T0 + 5 * MINUTE - 1);
      await fx.tickAt(deadline - 1);

      expect((await fx.order(hold))?.status).toBe('reserved');
      expect(await fx.count('ReservationExpired', hold.orderId)).toBe(0);

      await fx.tickAt(deadline);
      expect((await fx.order(hold))?.status).toBe('expired');
    });

    it('expires every overdue hold on the first tick after a jump far forward, none twice', async () => {
      const holds: PlacedHold[] = [];
      for (let i = 0; i < 6; i++) {
        fx.clock.set(T0 + i * 7 * SECOND);
        holds.push(await fx.reserve(`buyer-${i}`, 'k1'));
      }

      await fx.tickAt(T0 + DAY);

      for (const hold of holds) expect((await fx.order(hold))?.status).toBe('expired');
      await fx.tick();
      await fx.tickAt(T0 + 2 * DAY);
      for (const hold of holds) {
        expect(await fx.count('ReservationExpired', hold.orderId)).toBe(1);
        expect(await fx.count('StockReleased', hold.orderId)).toBe(1);
        expect(await fx.count('QuotaReleased', hold.orderId)).toBe(1);
      }
      const shards = await Promise.all([fx.shard(0), fx.shard(1)]);
      expect(shards.map((s) => s.reserved - s.released)).toEqual([0, 0]);
      expect(fx.follower.status(fx.clock.now()).processes).toMatchObject({
        expiry: { backlog: 0, overdueMs: 0 },
        'quota-release': { backlog: 0, overdueMs: 0 },
      });
    });
  });

  describe('payment racing the sweep', () => {
    it('lets a payment decided before the deadline win: the sweep then does nothing', async () => {
      const hold = await fx.reserve('alice', 'k1');
      fx.clock.set(T0 + HOLD_TTL - 1);
      const paid = await fx.pay(hold);
      expect(paid.events.map((e) => e.type)).toEqual(['OrderPaid']);
      await fx.settle();
      const head = await fx.store.headPosition();

      await fx.tickAt(T0 + HOLD_TTL);
      await fx.tickAt(T0 + DAY);

      expect(await fx.store.headPosition()).toBe(head);
      expect((await fx.order(hold))?.status).toBe('paid');
      expect((await fx.shard(hold.shard)).released).toBe(0);
      expect((await fx.buyer('alice')).claimedQuantity).toBe(1);
    });

    it('lets a payment decided before the deadline win even when the sweep has not yet seen the OrderPaid', async () => {
      const hold = await fx.reserve('alice', 'k1');
      const expiry = new ExpiryProcess(fx.port, fx.logger);
      await fx.deliver([expiry], { upTo: await fx.positionOf('OrderPlaced', hold.orderId) });
      fx.clock.set(T0 + HOLD_TTL - 1);
      await fx.pay(hold);
      const head = await fx.store.headPosition();

      await expiry.tick(T0 + HOLD_TTL);

      expect(await fx.store.headPosition()).toBe(head);
      expect((await fx.order(hold))?.status).toBe('paid');
      expect(expiry.status(T0 + HOLD_TTL).backlog).toBe(0);
    });

    it('makes a payment after the deadline lose before the sweep ran: refund recorded, order expired, stock released once', async () => {
      const hold = await fx.reserve('alice', 'k1');
      fx.clock.set(T0 + HOLD_TTL);

      const lost = await fx.pay(hold, 'pay-late');
      expect(lost.events.map((e) => e.type)).toEqual(['ReservationExpired', 'StockReleased', 'PaymentRefundRequested']);
      expect(lost.events[2]?.data).toMatchObject({ paymentId: 'pay-late', amount: hold.order.amount, reason: 'order_expired', userId: 'alice' });

      await fx.tick();
      await fx.tickAt(T0 + DAY);

      expect(await shardEventTypes(hold.shard, hold.orderId)).toEqual([
        'StockReserved',
        'OrderPlaced',
        'ReservationExpired',
        'StockReleased',
        'PaymentRefundRequested',
      ]);
      const shard = await fx.shard(hold.shard);
      expect(shard.orders.get(hold.orderId)?.status).toBe('refund_pending');
      expect(shard.released).toBe(1);
      expect(shard.paid).toBe(0);
      expect(await fx.count('QuotaReleased', hold.orderId)).toBe(1);
      expect((await fx.buyer('alice')).claimedQuantity).toBe(0);
    });

    it('decides a payment and the sweep arriving together at the deadline exactly once: one expiry, the payment refunded', async () => {
      const hold = await fx.reserve('alice', 'k1');
      await fx.settle();
      fx.clock.set(T0 + HOLD_TTL);

      const [payment] = await Promise.all([fx.pay(hold, 'pay-racing'), fx.follower.tick()]);
      await fx.tick();

      expect(payment.events.map((e) => e.type)).toContain('PaymentRefundRequested');
      expect(await fx.count('ReservationExpired', hold.orderId)).toBe(1);
      expect(await fx.count('StockReleased', hold.orderId)).toBe(1);
      expect(await fx.count('OrderPaid', hold.orderId)).toBe(0);
      expect(await fx.count('PaymentRefundRequested', hold.orderId)).toBe(1);
      expect((await fx.shard(hold.shard)).released).toBe(1);
    });
  });
});
