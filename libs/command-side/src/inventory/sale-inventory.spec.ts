import { randomUUID } from 'node:crypto';
import { SaleDefinition } from '@flash/domain';
import { MemoryEventStore } from '@flash/event-store';
import { Clock } from '../clock';
import { SaleInventory } from './sale-inventory';
import { ShardOwnership } from './shard-ownership';
import { testSale } from '../../test/sale-definition';

const sale: SaleDefinition = testSale();
const clock: Clock = { now: () => 1_000 };
/** Order ids are UUIDs: their first hex digits pick a home shard. */
const orders = Array.from({ length: 10 }, () => randomUUID());

/** A replica that owns shards 1 and 3 of the sale's four (shard leases decide that in production). */
const owning = (shards: number[]): ShardOwnership => ({ owns: (_sale, shard) => shards.includes(shard) });

describe('SaleInventory under shard ownership', () => {
  const load = (ownership: ShardOwnership) => SaleInventory.load(new MemoryEventStore(() => 1_000), clock, sale, [2, 2, 2, 2], { maxBatch: 16 }, ownership);

  it('places reservations on the shards this replica owns while they have stock, none as a guest', async () => {
    const inventory = await load(owning([1, 3]));
    // The gate is told to start on an owned shard too, while one has stock.
    for (const order of orders) expect([1, 3]).toContain(inventory.startShard(order));
    const shards = [];
    for (let i = 0; i < 4; i++) shards.push((await inventory.reserve(orders[i] as string, `user-${i}`, 1, {})).shard);
    expect(shards.sort()).toEqual([1, 1, 3, 3]);
    expect(inventory.guestReservations).toBe(0);
  });

  it('goes on to the shards it does not own once its own ran dry, rather than refuse a buyer while stock remains, and counts those', async () => {
    const inventory = await load(owning([1, 3]));
    for (let i = 0; i < 4; i++) await inventory.reserve(orders[i] as string, `user-${i}`, 1, {});
    const guests = [];
    for (let i = 4; i < 8; i++) guests.push((await inventory.reserve(orders[i] as string, `user-${i}`, 1, {})).shard);
    expect(guests.sort()).toEqual([0, 0, 2, 2]);
    expect(inventory.guestReservations).toBe(4);
    await expect(inventory.reserve(orders[8] as string, 'user-8', 1, {})).rejects.toMatchObject({ code: 'SOLD_OUT' });
  });

  it('asks the ownership once a shard to route a reservation (not at every comparison of its sort: 28 more for 8 shards)', async () => {
    const eight = testSale({ totalStock: 16 });
    let asks = 0;
    const counting: ShardOwnership = { owns: (_sale, shard) => (asks++, shard % 2 === 1) };
    const inventory = await SaleInventory.load(new MemoryEventStore(() => 1_000), clock, eight, [2, 2, 2, 2, 2, 2, 2, 2], { maxBatch: 16 }, counting);
    asks = 0;
    const { shard } = await inventory.reserve(orders[0] as string, 'user-0', 1, {}, 0);
    expect(shard % 2).toBe(1);
    // One ask per shard to order the rotation, and one to count a guest reservation.
    expect(asks).toBe(8 + 1);
  });

  it('without ownership (one process on its store), every shard is its own', async () => {
    const inventory = await SaleInventory.load(new MemoryEventStore(() => 1_000), clock, sale, [2, 2, 2, 2], { maxBatch: 16 });
    for (let i = 0; i < 8; i++) await inventory.reserve(orders[i] as string, `user-${i}`, 1, {});
    expect(inventory.guestReservations).toBe(0);
    expect(inventory.available()).toBe(0);
  });
});

describe('SaleInventory: one order, one placement, across processes', () => {
  it('answers with the order another process placed first on another shard, instead of placing it a second time', async () => {
    const store = new MemoryEventStore(() => 1_000);
    // Two processes (api replicas, or an api and the compensation saga in a worker), loaded before either placed anything.
    const here = await SaleInventory.load(store, clock, sale, [2, 2, 2, 2], { maxBatch: 16 });
    const there = await SaleInventory.load(store, clock, sale, [2, 2, 2, 2], { maxBatch: 16 });
    const order = orders[0] as string;
    const first = await here.reserve(order, 'user-0', 1, {}, 0);
    expect(first.shard).toBe(0);
    // The other process has not seen that append and would place the same order on shard 1, in a batch with another.
    const [again, other] = await Promise.all([there.reserve(order, 'user-0', 1, {}, 1), there.reserve(orders[1] as string, 'user-1', 1, {}, 1)]);
    expect(again).toMatchObject({ shard: 0, events: [] });
    expect(again.order?.orderId).toBe(order);
    expect(other.events.map((e) => e.type)).toContain('OrderPlaced');
    const placements = (await store.readAll({ after: 0, maxCount: 100 })).filter((e) => e.type === 'OrderPlaced' && (e.data as { orderId: string }).orderId === order);
    expect(placements).toHaveLength(1);
    expect((await store.readAll({ after: 0, maxCount: 100 })).filter((e) => e.type === 'OrderPlaced')).toHaveLength(2);
  });
});

describe('one order placed twice, on two replicas', () => {
  it("answers the placement the store holds, and keeps none of the refused one in the refusing shard's cache", async () => {
    const store = new MemoryEventStore(() => 1_000);
    const big = testSale({ saleId: 'sale-twice', totalStock: 400, shards: 4 });
    const owning = (shards: number[]): ShardOwnership => ({ owns: (_sale, shard) => shards.includes(shard) });
    const a = await SaleInventory.load(store, clock, big, [100, 100, 100, 100], { maxBatch: 16 }, owning([1, 3]));
    const b = await SaleInventory.load(store, clock, big, [100, 100, 100, 100], { maxBatch: 16 }, owning([0, 2]));
    const orderId = randomUUID();
    const first = await a.reserve(orderId, 'user-x', 1, {}, 3);
    // b has not read shard 3: it decides the order on a shard of its own, and the store refuses that second placement.
    const again = await b.reserve(orderId, 'user-x', 1, {});
    expect({ shard: again.shard, events: again.events.length, orderId: again.order?.orderId }).toEqual({ shard: first.shard, events: 0, orderId });
    expect(b.writers.filter((w) => w.state.shard !== first.shard && w.state.orders.has(orderId)).map((w) => w.state.shard)).toEqual([]);
    expect(b.available()).toBe(400 - 1);
  });
});
