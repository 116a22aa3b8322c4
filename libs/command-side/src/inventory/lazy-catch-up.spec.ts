import { randomUUID } from 'node:crypto';
import { inventoryStream, SaleDefinition } from '@flash/domain';
import { MemoryEventStore } from '@flash/event-store';
import { OrderLocator } from '../catalog/order-locator';
import { SaleCatalogue } from '../catalog/sale-catalogue';
import { Clock } from '../clock';
import { Inventories } from './inventories';
import { SaleInventory } from './sale-inventory';
import { ShardOwnership } from './shard-ownership';
import { testSale } from '../../test/sale-definition';

/**
 * Issue #22: a replica does not read every append another replica makes to a shard it does not own; it reads that
 * shard when it is about to write it or answer from it. What must not change: a sale sells out exactly, whichever
 * replica the buyers reach, and an order placed elsewhere is found.
 */
const sale: SaleDefinition = testSale({ saleId: 'sale-lazy', totalStock: 4, shards: 2 });
const ALLOCATIONS = [2, 2];
const clock: Clock = { now: () => 1_000 };
const owning = (shards: number[]): ShardOwnership => ({ owns: (_sale, shard) => shards.includes(shard) });

/** The catalogue as the log indexer would have built it, knowing the one sale. */
const catalogueOf = (): SaleCatalogue => ({ sale: () => ({ definition: sale, allocations: ALLOCATIONS, closed: false }) }) as unknown as SaleCatalogue;

/** A memory store that counts the reads of each stream: what a replica spends on shards others write. */
class CountingStore extends MemoryEventStore {
  readonly reads = new Map<string, number>();

  override async readStream(streamId: string, fromRevision = 0) {
    this.reads.set(streamId, (this.reads.get(streamId) ?? 0) + 1);
    return super.readStream(streamId, fromRevision);
  }
}

/** Two replicas on one store: `here` owns shard 0, `there` owns shard 1 (both loaded before anything was sold). */
const twoReplicas = async () => {
  const store = new CountingStore(() => 1_000);
  const here = await SaleInventory.load(store, clock, sale, ALLOCATIONS, { maxBatch: 16 }, owning([0]));
  const there = await SaleInventory.load(store, clock, sale, ALLOCATIONS, { maxBatch: 16 }, owning([1]));
  return { store, here, there };
};

/** Tells `here`'s writers what the log shows, as its log follower would (Inventories.observe's lazy branch). */
const follow = async (store: MemoryEventStore, inventory: SaleInventory): Promise<void> => {
  for (const recorded of await store.readAll({ after: 0, maxCount: 1_000 })) {
    const shard = Number(recorded.streamId.slice(recorded.streamId.lastIndexOf('-') + 1));
    if (recorded.streamId === inventoryStream(sale.saleId, shard)) inventory.writer(shard)?.observe(recorded.revision, inventory.owns(shard));
  }
};

/** `there` sells its own shard out, then one of those buyers cancels: shard 1 has one unit again, `here` has not read it. */
const sellOutAndGiveOneBack = async (store: MemoryEventStore, here: SaleInventory, there: SaleInventory): Promise<void> => {
  const first = randomUUID();
  await there.reserve(first, 'user-a', 1, {}, 1);
  await there.reserve(randomUUID(), 'user-b', 1, {}, 1);
  // `here` read shard 1 sold out (a guest attempt would have), then the cancellation lands after.
  await follow(store, here);
  await here.writer(1)?.fresh();
  expect(here.writer(1)?.state.orders.size).toBe(2);
  await there.writer(1)?.submit({ type: 'CancelOrder', orderId: first });
  await follow(store, here);
};

describe('catch-up of shards another replica owns (lazy)', () => {
  it("reads none of another replica's appends as they come, and reads its own shard's foreign appends at once", async () => {
    const store = new CountingStore(() => 1_000);
    const inventories = new Inventories(store, clock, catalogueOf(), new OrderLocator(), { maxBatch: 16 }, async () => undefined, owning([0]));
    const here = await inventories.forSale(sale.saleId);
    const there = await SaleInventory.load(store, clock, sale, ALLOCATIONS, { maxBatch: 16 }, owning([1]));
    const theirs = inventoryStream(sale.saleId, 1);
    const mine = inventoryStream(sale.saleId, 0);
    const readsBefore = { theirs: store.reads.get(theirs) ?? 0, mine: store.reads.get(mine) ?? 0 };
    await there.reserve(randomUUID(), 'user-a', 1, {}, 1);
    await there.reserve(randomUUID(), 'user-b', 1, {}, 1);
    // Its own shard dry, `there` reserves on `here`'s as a guest: `here` owns it and folds that in without being asked.
    expect((await there.reserve(randomUUID(), 'user-c', 1, {})).shard).toBe(0);
    for (const recorded of await store.readAll({ after: 0, maxCount: 1_000 })) inventories.observe(recorded);
    await here.flush();
    expect(store.reads.get(theirs) ?? 0).toBe(readsBefore.theirs);
    expect(here.writer(1)?.behind).toBe(true);
    expect((store.reads.get(mine) ?? 0) - readsBefore.mine).toBe(1);
    expect(here.writer(0)?.behind).toBe(false);
    expect(here.writer(0)?.state.orders.size).toBe(1);
  });

  it('still places a reservation on a shard whose cache says sold out but whose stream had a unit given back (exact sell-out)', async () => {
    const { store, here, there } = await twoReplicas();
    await sellOutAndGiveOneBack(store, here, there);
    // `here`'s own shard sold out too, from this replica.
    await here.reserve(randomUUID(), 'user-c', 1, {}, 0);
    await here.reserve(randomUUID(), 'user-d', 1, {}, 0);
    const last = await here.reserve(randomUUID(), 'user-e', 1, {});
    expect(last.shard).toBe(1);
    expect(last.events.map((e) => e.type)).toContain('StockReserved');
    await expect(here.reserve(randomUUID(), 'user-f', 1, {})).rejects.toMatchObject({ code: 'SOLD_OUT' });
  });

  it.each([
    ['a sold-out answer (purchase token, waiting room)', (i: SaleInventory) => i.soldOut().then((out) => !out)],
    ["the gate's check of a SOLD_OUT refusal", (i: SaleInventory) => i.canServe(1)],
  ])('%s: no sell-out while a shard it has not read yet had a unit given back', async (_what, hasStock) => {
    const { store, here, there } = await twoReplicas();
    await sellOutAndGiveOneBack(store, here, there);
    await here.reserve(randomUUID(), 'user-c', 1, {}, 0);
    await here.reserve(randomUUID(), 'user-d', 1, {}, 0);
    expect(here.available()).toBe(0); // the caches alone would say sold out
    expect(await hasStock(here)).toBe(true);
    await here.reserve(randomUUID(), 'user-e', 1, {});
    expect(await hasStock(here)).toBe(false);
  });

  it('reads the shards it is behind on before telling the shard leases which shards have stock', async () => {
    const store = new CountingStore(() => 1_000);
    const inventories = new Inventories(store, clock, catalogueOf(), new OrderLocator(), { maxBatch: 16 }, async () => undefined, owning([0]));
    const here = await inventories.forSale(sale.saleId);
    const there = await SaleInventory.load(store, clock, sale, ALLOCATIONS, { maxBatch: 16 }, owning([1]));
    await there.reserve(randomUUID(), 'user-a', 1, {}, 1);
    await there.reserve(randomUUID(), 'user-b', 1, {}, 1);
    for (const recorded of await store.readAll({ after: 0, maxCount: 1_000 })) inventories.observe(recorded);
    expect(here.writer(1)?.behind).toBe(true);
    expect(await inventories.shardStock()).toEqual([{ saleId: sale.saleId, shards: 2, stocked: [0] }]);
  });

  it('does not read a shard behind the log for the deal when what it missed cannot have emptied it', async () => {
    const store = new CountingStore(() => 1_000);
    const plenty = [100, 100];
    const catalogue = { sale: () => ({ definition: sale, allocations: plenty, closed: false }) } as unknown as SaleCatalogue;
    const inventories = new Inventories(store, clock, catalogue, new OrderLocator(), { maxBatch: 16 }, async () => undefined, owning([0]));
    const here = await inventories.forSale(sale.saleId);
    const there = await SaleInventory.load(store, clock, sale, plenty, { maxBatch: 16 }, owning([1]));
    await there.reserve(randomUUID(), 'user-a', 1, {}, 1);
    for (const recorded of await store.readAll({ after: 0, maxCount: 1_000 })) inventories.observe(recorded);
    const theirs = inventoryStream(sale.saleId, 1);
    const readsBefore = store.reads.get(theirs) ?? 0;
    expect(await inventories.shardStock()).toEqual([{ saleId: sale.saleId, shards: 2, stocked: [0, 1] }]);
    expect(store.reads.get(theirs) ?? 0).toBe(readsBefore);
    expect(here.writer(1)?.behind).toBe(true);
  });

  it("finds an order another replica placed on its own shard, reading that shard then (GET /orders/:id on any replica)", async () => {
    const store = new CountingStore(() => 1_000);
    const locator = new OrderLocator();
    const inventories = new Inventories(store, clock, catalogueOf(), locator, { maxBatch: 16 }, async () => undefined, owning([0]));
    await inventories.forSale(sale.saleId);
    const there = await SaleInventory.load(store, clock, sale, ALLOCATIONS, { maxBatch: 16 }, owning([1]));
    const orderId = randomUUID();
    const placed = await there.reserve(orderId, 'user-a', 1, {}, 1);
    for (const e of placed.events) locator.apply(e);
    for (const recorded of await store.readAll({ after: 0, maxCount: 1_000 })) inventories.observe(recorded);
    const found = await inventories.findOrder(orderId);
    expect(found).toMatchObject({ saleId: sale.saleId, shard: 1 });
    expect(found?.order.orderId).toBe(orderId);
  });
});
