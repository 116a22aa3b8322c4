import { inventoryStream, OrderPlaced, QuotaReleased } from '@flash/domain';
import { MINUTE, SagaFixture, SECOND, T0 } from '../../test/saga-fixture';
import { CompensationProcess } from './compensation.process';

const SETTLE_AFTER = 5 * SECOND;
const CLIENT_WINDOW = 2 * MINUTE;

describe('compensation saga (fake clock)', () => {
  let fx: SagaFixture;
  const start = async (totalStock = 10): Promise<void> => {
    fx = await SagaFixture.start({
      settleAfterMs: SETTLE_AFTER,
      clientWindowMs: CLIENT_WINDOW,
      sale: { totalStock, shards: 2, holdTtlMs: 10 * MINUTE, endsAt: T0 + 60 * MINUTE },
    });
  };
  afterEach(() => fx.stop());

  /** A crash between the buyer append and the shard append: QuotaClaimed is durable, no order exists. */
  const crashAfterClaim = async (userId: string, key: string, quantity = 1): Promise<string> => {
    const reservationId = await fx.claim(userId, key, quantity);
    await fx.settle();
    return reservationId;
  };

  const releasesOf = async (reservationId: string): Promise<QuotaReleased['data'][]> =>
    ((await fx.eventsAbout(reservationId, 'QuotaReleased')) as QuotaReleased[]).map((e) => e.data);

  it('leaves a claim alone until settleAfterMs has passed', async () => {
    await start();
    fx.clock.set(T0 + SECOND);
    const reservationId = await crashAfterClaim('alice', 'k1');
    const head = await fx.store.headPosition();

    await fx.tickAt(T0 + SECOND + SETTLE_AFTER - 1);

    expect(await fx.store.headPosition()).toBe(head);
    expect(fx.follower.status(fx.clock.now()).processes.compensation).toEqual({ backlog: 1, overdueMs: 0 });
    expect(await fx.eventsAbout(reservationId, 'OrderPlaced')).toEqual([]);
  });

  it('redoes the reservation within the client window: the order gets the reservation id, the quota stays claimed', async () => {
    await start();
    fx.clock.set(T0 + SECOND);
    const reservationId = await crashAfterClaim('alice', 'k1', 2);

    await fx.tickAt(T0 + SECOND + SETTLE_AFTER);
    await fx.tick();

    const placed = (await fx.eventsAbout(reservationId, 'OrderPlaced')) as OrderPlaced[];
    expect(placed).toHaveLength(1);
    expect(placed[0]?.data).toMatchObject({ orderId: reservationId, userId: 'alice', quantity: 2, status: 'reserved' });
    expect(await fx.count('StockReserved', reservationId)).toBe(1);
    expect(await releasesOf(reservationId)).toEqual([]);
    const buyer = await fx.buyer('alice');
    expect(buyer.claimedQuantity).toBe(2);
    expect(buyer.claimsByKey.get('k1')?.released).toBeUndefined();
    expect(fx.backlog('compensation')).toBe(0);
  });

  it('redoes the reservation at the last millisecond of the client window', async () => {
    await start();
    const reservationId = await crashAfterClaim('alice', 'k1');

    await fx.tickAt(T0 + CLIENT_WINDOW);

    expect(await fx.count('OrderPlaced', reservationId)).toBe(1);
    expect(await releasesOf(reservationId)).toEqual([]);
  });

  it("releases the quota with reason 'compensated' beyond the client window, and places no order", async () => {
    await start();
    fx.clock.set(T0 + SECOND);
    const reservationId = await crashAfterClaim('alice', 'k1', 2);

    // Just past the window a client's own retry may still be redoing it: the saga waits one settle period.
    await fx.tickAt(T0 + SECOND + CLIENT_WINDOW + 1);
    expect(await releasesOf(reservationId)).toEqual([]);
    await fx.tickAt(T0 + SECOND + CLIENT_WINDOW + SETTLE_AFTER + 1);
    await fx.tick();

    expect(await releasesOf(reservationId)).toEqual([
      { saleId: fx.sale.saleId, userId: 'alice', reservationId, quantity: 2, reason: 'compensated', releasedAt: T0 + SECOND + CLIENT_WINDOW + SETTLE_AFTER + 1 },
    ]);
    expect(await fx.count('OrderPlaced', reservationId)).toBe(0);
    expect(await fx.count('StockReserved', reservationId)).toBe(0);
    expect((await fx.buyer('alice')).claimedQuantity).toBe(0);
    const shards = await Promise.all([fx.shard(0), fx.shard(1)]);
    expect(shards.map((s) => s.reserved)).toEqual([0, 0]);
  });

  it("releases the quota with reason 'compensated' once the sale has ended, even within the client window", async () => {
    await start();
    fx.clock.set(fx.sale.endsAt - SETTLE_AFTER);
    const reservationId = await crashAfterClaim('alice', 'k1');

    await fx.tickAt(fx.sale.endsAt);

    expect((await releasesOf(reservationId)).map((r) => r.reason)).toEqual(['compensated']);
    expect(await fx.count('OrderPlaced', reservationId)).toBe(0);
  });

  it("releases the quota with reason 'sold_out' when no stock is left within the window", async () => {
    await start(2);
    await fx.reserve('bob', 'k1');
    await fx.reserve('carol', 'k1');
    const reservationId = await crashAfterClaim('alice', 'k1');

    await fx.tickAt(T0 + SETTLE_AFTER);
    await fx.tick();

    expect((await releasesOf(reservationId)).map((r) => r.reason)).toEqual(['sold_out']);
    expect(await fx.count('OrderPlaced', reservationId)).toBe(0);
    expect((await fx.buyer('alice')).claimedQuantity).toBe(0);
    const shards = await Promise.all([fx.shard(0), fx.shard(1)]);
    expect(shards.map((s) => s.reserved - s.released)).toEqual([1, 1]);
  });

  it('never touches a claim whose order did land', async () => {
    await start();
    const hold = await fx.reserve('alice', 'k1');
    await fx.pay(hold);
    await fx.settle();
    const head = await fx.store.headPosition();

    await fx.tickAt(T0 + SETTLE_AFTER);
    await fx.tickAt(T0 + CLIENT_WINDOW + 1);
    await fx.tickAt(fx.sale.endsAt + 1);

    expect(await fx.store.headPosition()).toBe(head);
    expect(await releasesOf(hold.orderId)).toEqual([]);
    expect(await fx.count('OrderPlaced', hold.orderId)).toBe(1);
    expect((await fx.buyer('alice')).claimedQuantity).toBe(1);
  });

  it('settles each of several crashed claims once, whatever the ticks that follow', async () => {
    await start(3);
    const early = await crashAfterClaim('alice', 'k1');
    fx.clock.set(T0 + 3 * MINUTE);
    const late = await crashAfterClaim('bob', 'k1');
    await fx.reserve('carol', 'k1');
    await fx.reserve('dave', 'k1');
    const third = await crashAfterClaim('erin', 'k1');

    await fx.tickAt(T0 + 3 * MINUTE + SETTLE_AFTER);
    await fx.tick();
    await fx.tickAt(T0 + 3 * MINUTE + SETTLE_AFTER + SECOND);

    // alice's attempt is past its window; bob's is redone and takes the last unit; erin finds the sale sold out.
    expect((await releasesOf(early)).map((r) => r.reason)).toEqual(['compensated']);
    expect(await fx.count('OrderPlaced', early)).toBe(0);
    expect(await fx.count('OrderPlaced', late)).toBe(1);
    expect(await releasesOf(late)).toEqual([]);
    expect((await releasesOf(third)).map((r) => r.reason)).toEqual(['sold_out']);
    expect(fx.backlog('compensation')).toBe(0);
  });

  describe('when the shard append of the attempt fails', () => {
    /** The client's own attempt: its shard append is decided, then fails on every try (the store is sick). */
    const failingAttempt = (reservationId: string, userId: string): Promise<unknown> =>
      fx.inventory.reserve(reservationId, userId, 1, { correlationId: reservationId, userId }).then(
        () => {
          throw new Error('the attempt was expected to fail');
        },
        (error: unknown) => error,
      );

    it('does not settle a claim on the decision of an attempt whose append then fails: it redoes it once the store is back', async () => {
      await start();
      const reservationId = await crashAfterClaim('alice', 'k1');
      fx.clock.set(T0 + SETTLE_AFTER);
      // The attempt's append hangs past settleAfterMs, then fails; the sweep runs meanwhile.
      const release = fx.store.holdAppends(fx.inventoryStreamPrefix);
      fx.store.failAppends(fx.inventoryStreamPrefix, 5);
      const attempt = failingAttempt(reservationId, 'alice');
      const sweep = fx.follower.tick();
      release();
      expect(await attempt).toMatchObject({ code: 'OVERLOADED' });
      await sweep;
      expect(await fx.count('OrderPlaced', reservationId)).toBe(0);

      await fx.tickAt(T0 + SETTLE_AFTER + SECOND);
      await fx.tick();

      expect(await fx.count('OrderPlaced', reservationId)).toBe(1);
      expect(await releasesOf(reservationId)).toEqual([]);
      expect(fx.backlog('compensation')).toBe(0);
    });

    it('does not take a decision left in the shard cache by a failed append (the re-read failed too) for a placed order', async () => {
      await start();
      const reservationId = await crashAfterClaim('alice', 'k1');
      fx.store.failAppends(fx.inventoryStreamPrefix, 1);
      fx.store.failReads(fx.inventoryStreamPrefix, 1);
      expect(await failingAttempt(reservationId, 'alice')).toMatchObject({ code: 'OVERLOADED' });

      await fx.tickAt(T0 + SETTLE_AFTER);
      await fx.tick();

      expect(await fx.count('OrderPlaced', reservationId)).toBe(1);
      expect(await releasesOf(reservationId)).toEqual([]);
      const shards = await Promise.all([fx.shard(0), fx.shard(1)]);
      expect(shards.some((s) => s.orders.get(reservationId)?.status === 'reserved')).toBe(true);
    });

    it('releases a claim whose attempt failed once the window has passed, with the store back', async () => {
      await start();
      const reservationId = await crashAfterClaim('alice', 'k1');
      fx.store.failAppends(fx.inventoryStreamPrefix, 1);
      fx.store.failReads(fx.inventoryStreamPrefix, 1);
      expect(await failingAttempt(reservationId, 'alice')).toMatchObject({ code: 'OVERLOADED' });

      await fx.tickAt(T0 + CLIENT_WINDOW + SETTLE_AFTER + 1);
      await fx.tick();

      expect(await fx.count('OrderPlaced', reservationId)).toBe(0);
      expect((await releasesOf(reservationId)).map((r) => r.reason)).toEqual(['compensated']);
    });

    it('finds an order that did land on a shard left untrusted by a failed append, rather than placing it again elsewhere', async () => {
      await start(2);
      const hold = await fx.reserve('alice', 'k1');
      // A lagging view: this process has seen the claim but not yet the OrderPlaced.
      const compensation = new CompensationProcess(fx.port, fx.quota, fx.logger, { settleAfterMs: SETTLE_AFTER, clientWindowMs: CLIENT_WINDOW });
      await fx.deliver([compensation], { upTo: (await fx.positionOf('OrderPlaced', hold.orderId)) - 1 });
      const shardStream = inventoryStream(fx.sale.saleId, hold.shard);
      fx.store.failAppends(shardStream, 1);
      fx.store.failReads(shardStream, 1);
      await expect(fx.pay(hold)).rejects.toMatchObject({ code: 'OVERLOADED' });

      await compensation.tick(T0 + SETTLE_AFTER);

      expect(await fx.count('OrderPlaced', hold.orderId)).toBe(1);
      expect(await fx.count('StockReserved', hold.orderId)).toBe(1);
      expect((await fx.shard(1 - hold.shard)).reserved).toBe(0);
      expect(await releasesOf(hold.orderId)).toEqual([]);
      expect(compensation.status(T0 + SETTLE_AFTER).backlog).toBe(0);
    });
  });
});
