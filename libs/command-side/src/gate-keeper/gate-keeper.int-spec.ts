import Redis from 'ioredis';
import pino from 'pino';
import { BuyerEvent, buyerStream, InventoryMode, inventoryStream, SaleDefinition, ShardEvent } from '@flash/domain';
import { encodeEvent, MemoryEventStore, NO_STREAM } from '@flash/event-store';
import { RedisGate } from '@flash/gate';
import { RedisServer } from '../../../../test/support/redis-server';
import { BuyerQuota } from '../buyer/buyer-quota';
import { ClaimantIndex } from '../catalog/claimant-index';
import { OrderLocator } from '../catalog/order-locator';
import { CatalogSale, SaleCatalogue } from '../catalog/sale-catalogue';
import { systemClock } from '../clock';
import { Inventories } from '../inventory/inventories';
import { GateKeeper } from './gate-keeper';
import { storeTruth } from './gate-truth';

const T0 = Date.UTC(2030, 0, 1);
const PRICE = 100;

/** One shard's history, written the way a shard writer writes it (StockReserved before OrderPlaced, and so on). */
class ShardHistory {
  readonly events: ShardEvent[] = [];

  constructor(
    private readonly saleId: string,
    readonly shard: number,
  ) {}

  private ref(orderId: string) {
    return { saleId: this.saleId, shard: this.shard, orderId };
  }

  /** A reserve-mode hold: stock taken at once, expiring later. */
  reserved(orderId: string, userId: string, quantity: number): this {
    this.events.push(
      { type: 'StockReserved', data: { ...this.ref(orderId), userId, quantity, reservedAt: T0 } },
      {
        type: 'OrderPlaced',
        data: { ...this.ref(orderId), userId, quantity, amount: quantity * PRICE, status: 'reserved', stockTaken: true, placedAt: T0, expiresAt: T0 + 60_000 },
      },
    );
    return this;
  }

  /** An on-payment order: it counts against its buyer, but no stock is taken until it is paid. */
  placedWithoutStock(orderId: string, userId: string, quantity: number): this {
    this.events.push({
      type: 'OrderPlaced',
      data: { ...this.ref(orderId), userId, quantity, amount: quantity * PRICE, status: 'placed', stockTaken: false, placedAt: T0 },
    });
    return this;
  }

  paid(orderId: string, amount: number, opts: { takesStock?: { userId: string; quantity: number } } = {}): this {
    if (opts.takesStock) this.events.push({ type: 'StockReserved', data: { ...this.ref(orderId), ...opts.takesStock, reservedAt: T0 + 1 } });
    this.events.push({ type: 'OrderPaid', data: { ...this.ref(orderId), paymentId: `pay-${orderId}`, amount, paidAt: T0 + 1 } });
    return this;
  }

  expired(orderId: string, userId: string, quantity: number): this {
    this.events.push(
      { type: 'ReservationExpired', data: { ...this.ref(orderId), userId, expiredAt: T0 + 60_000 } },
      { type: 'StockReleased', data: { ...this.ref(orderId), quantity, reason: 'expired' } },
    );
    return this;
  }

  cancelled(orderId: string, userId: string, stockToRelease: number): this {
    this.events.push({ type: 'OrderCancelled', data: { ...this.ref(orderId), userId, cancelledAt: T0 + 2 } });
    if (stockToRelease > 0) this.events.push({ type: 'StockReleased', data: { ...this.ref(orderId), quantity: stockToRelease, reason: 'cancelled' } });
    return this;
  }
}

RedisServer.describeWithRedis('GateKeeper rebuild (loadFromStore) against a real Redis', () => {
  const redis = new RedisServer();
  const logger = pino({ level: 'silent' });
  let raw: Redis;
  let gate: RedisGate;

  beforeAll(async () => {
    await redis.start();
    raw = new Redis(redis.url);
    gate = await RedisGate.connect(redis.url);
  });
  afterAll(async () => {
    await gate.close();
    await raw.quit();
    await redis.stop();
  });

  const saleOf = (saleId: string, inventoryMode: InventoryMode, allocations: number[], perUserLimit: number): CatalogSale => {
    const definition: SaleDefinition = {
      saleId,
      sku: 'SKU-REBUILD',
      name: 'rebuild fixture',
      price: PRICE,
      totalStock: allocations.reduce((a, b) => a + b, 0),
      shards: allocations.length,
      startsAt: T0,
      endsAt: T0 + 3_600_000,
      perUserLimit,
      inventoryMode,
      holdTtlMs: 60_000,
      challenge: 'none',
    };
    return { definition, allocations, closed: false };
  };

  /**
   * A store holding these shard histories (and any buyer streams given), a catalog that knows the sale, and a
   * GateKeeper over them and the Redis gate.
   */
  const keeperOver = async (sale: CatalogSale, histories: ShardHistory[], buyers: BuyerEvent[] = []) => {
    const store = new MemoryEventStore(() => T0);
    for (const h of histories) {
      const stream = inventoryStream(sale.definition.saleId, h.shard);
      await store.append(stream, h.events.map((e) => encodeEvent(stream, e)), NO_STREAM);
    }
    for (const userId of new Set(buyers.map((e) => e.data.userId))) {
      const stream = buyerStream(sale.definition.saleId, userId);
      await store.append(stream, buyers.filter((e) => e.data.userId === userId).map((e) => encodeEvent(stream, e)), NO_STREAM);
    }
    const catalogue = new SaleCatalogue();
    catalogue.apply({ type: 'SaleScheduled', data: { ...sale.definition, scheduledAt: T0 } });
    catalogue.apply({ type: 'SaleStockAllocated', data: { saleId: sale.definition.saleId, allocations: [...sale.allocations] } });
    const inventories = new Inventories(store, systemClock, catalogue, new OrderLocator(), { maxBatch: 64 });
    const quota = new BuyerQuota(store, new ClaimantIndex(), { soleClaimant: false, clock: systemClock });
    return new GateKeeper(gate, storeTruth(store, inventories, quota), logger, () => undefined);
  };

  /** What Redis holds for the sale, read field by field (nothing defaulted). */
  const gateKeys = async (saleId: string) => ({
    meta: await raw.hgetall(`gate:{${saleId}}:meta`),
    available: await raw.hgetall(`gate:{${saleId}}:available`),
    users: await raw.hgetall(`gate:{${saleId}}:users`),
    holds: await raw.hgetall(`gate:{${saleId}}:holds`),
  });

  /** Stale state the rebuild must replace entirely (as if an older gate were still there). */
  const seedStaleGate = (saleId: string, shards: number) =>
    gate.load({
      saleId,
      startsAt: 0,
      endsAt: 1,
      perUserLimit: 99,
      available: Array.from({ length: shards }, () => 42),
      holds: [{ reservationId: 'stale-hold', userId: 'mallory', shard: 0, quantity: 7, stockTaken: true }],
    });

  it('reserve mode: per-shard stock and per-buyer counts come from live holds only (expired and cancelled give back)', async () => {
    const saleId = 'rebuild-reserve';
    const sale = saleOf(saleId, 'reserve', [5, 5, 7], 3);
    // Expected values are worked out by hand from this history, not by the code under test:
    //   shard 0 (5): o1 alice 2 live, o2 bob 1 expired, o3 carol 1 paid       → taken 2+1, available 5-3 = 2
    //   shard 1 (5): o4 alice 1 live, o5 dave 2 cancelled, o6 bob 1 live      → taken 1+1, available 5-2 = 3
    //   shard 2 (7): o7 erin 3 expired, o8 carol 1 live, o9 frank 2 paid      → taken 1+2, available 7-3 = 4
    //   buyers: alice 2+1 = 3, bob 1 (o2 expired), carol 1+1 = 2, frank 2; dave and erin hold nothing.
    const s0 = new ShardHistory(saleId, 0).reserved('o1', 'alice', 2).reserved('o2', 'bob', 1).reserved('o3', 'carol', 1).expired('o2', 'bob', 1).paid('o3', PRICE);
    const s1 = new ShardHistory(saleId, 1).reserved('o4', 'alice', 1).reserved('o5', 'dave', 2).reserved('o6', 'bob', 1).cancelled('o5', 'dave', 2);
    const s2 = new ShardHistory(saleId, 2).reserved('o7', 'erin', 3).reserved('o8', 'carol', 1).reserved('o9', 'frank', 2).expired('o7', 'erin', 3).paid('o9', 2 * PRICE);
    const keeper = await keeperOver(sale, [s0, s1, s2]);
    await seedStaleGate(saleId, 3);

    await keeper.rebuild(sale);

    const state = await gateKeys(saleId);
    expect(state.available).toEqual({ '0': '2', '1': '3', '2': '4' });
    expect(state.users).toEqual({ alice: '3', bob: '1', carol: '2', frank: '2' });
    expect(state.holds).toEqual({
      o1: '0:2:1:alice',
      o3: '0:1:1:carol',
      o4: '1:1:1:alice',
      o6: '1:1:1:bob',
      o8: '2:1:1:carol',
      o9: '2:2:1:frank',
    });
    expect(state.meta).toEqual({ startsAt: String(T0), endsAt: String(T0 + 3_600_000), perUserLimit: '3', shards: '3' });
  });

  it('on-payment mode: unpaid orders count against their buyer but take no stock; paid ones take it', async () => {
    const saleId = 'rebuild-on-payment';
    const sale = saleOf(saleId, 'on-payment', [3, 4], 2);
    //   shard 0 (3): p1 alice 1 unpaid, p2 bob 2 paid, p3 carol 1 cancelled unpaid → taken 2, available 3-2 = 1
    //   shard 1 (4): p4 dave 1 paid, p5 alice 1 unpaid                                → taken 1, available 4-1 = 3
    //   buyers: alice 1+1 = 2, bob 2, dave 1; carol holds nothing.
    const s0 = new ShardHistory(saleId, 0)
      .placedWithoutStock('p1', 'alice', 1)
      .placedWithoutStock('p2', 'bob', 2)
      .placedWithoutStock('p3', 'carol', 1)
      .paid('p2', 2 * PRICE, { takesStock: { userId: 'bob', quantity: 2 } })
      .cancelled('p3', 'carol', 0);
    const s1 = new ShardHistory(saleId, 1).placedWithoutStock('p4', 'dave', 1).placedWithoutStock('p5', 'alice', 1).paid('p4', PRICE, { takesStock: { userId: 'dave', quantity: 1 } });
    const keeper = await keeperOver(sale, [s0, s1]);
    await seedStaleGate(saleId, 2);

    await keeper.rebuild(sale);

    const state = await gateKeys(saleId);
    expect(state.available).toEqual({ '0': '1', '1': '3' });
    expect(state.users).toEqual({ alice: '2', bob: '2', dave: '1' });
    expect(state.holds).toEqual({ p1: '0:1:0:alice', p2: '0:2:1:bob', p4: '1:1:1:dave', p5: '1:1:0:alice' });
  });

  it('a rebuilt gate decides from the rebuilt counts: the buyer at the limit is refused, the last units go, then sold out', async () => {
    const saleId = 'rebuild-decides';
    const sale = saleOf(saleId, 'reserve', [2, 1], 1);
    //   shard 0 (2): q1 alice 1 live → available 1;  shard 1 (1): q2 bob 1 expired → available 1.
    const s0 = new ShardHistory(saleId, 0).reserved('q1', 'alice', 1);
    const s1 = new ShardHistory(saleId, 1).reserved('q2', 'bob', 1).expired('q2', 'bob', 1);
    const claimed = (userId: string, reservationId: string): BuyerEvent => ({
      type: 'QuotaClaimed',
      data: { saleId, userId, reservationId, idempotencyKey: `key-${reservationId}`, quantity: 1, claimedAt: T0 },
    });
    const keeper = await keeperOver(sale, [s0, s1], [
      claimed('alice', 'q1'),
      claimed('bob', 'q2'),
      { type: 'QuotaReleased', data: { saleId, userId: 'bob', reservationId: 'q2', quantity: 1, reason: 'expired', releasedAt: T0 + 60_000 } },
    ]);
    await raw.del(`gate:{${saleId}}:meta`, `gate:{${saleId}}:available`, `gate:{${saleId}}:users`, `gate:{${saleId}}:holds`);

    // Nothing in Redis for this sale: the first admission rebuilds from the store, then decides. A reservation id's
    // first eight hex digits pick the shard the gate looks at first (homeShard): 0 for all but dave's.
    const now = T0 + 1000;
    await expect(keeper.admit(sale, 'alice', '00000000-alice-2', 1, now)).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' });
    expect(await keeper.admit(sale, 'bob', '00000000-bob-2', 1, now)).toBe(0);
    expect(await keeper.admit(sale, 'carol', '00000000-carol', 1, now)).toBe(1);
    await expect(keeper.admit(sale, 'dave', '00000001-dave', 1, now)).rejects.toMatchObject({ code: 'SOLD_OUT' });
    expect((await gateKeys(saleId)).available).toEqual({ '0': '0', '1': '0' });
  });
});
