import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { encodeEvent, EventStore, MemoryEventStore, NO_STREAM } from '@flash/event-store';
import pino from 'pino';
import { CATALOG_SNAPSHOT_FILE, CatalogIndexes, SqliteCatalogSnapshots } from './catalog-snapshot';
import { ClaimantIndex } from './claimant-index';
import { LogIndexer } from './log-indexer';
import { OrderLocator } from './order-locator';
import { SaleCatalogue } from './sale-catalogue';

const logger = pino({ level: 'silent' });

const saleScheduled = (saleId: string) => ({ type: 'SaleScheduled', data: { saleId, name: saleId, startsAt: 1_000, endsAt: 9_000, perUserLimit: 2, price: 500, scheduledAt: 500 } });
const stockAllocated = (saleId: string) => ({ type: 'SaleStockAllocated', data: { saleId, allocations: [5, 5] } });
const claimed = (saleId: string, userId: string) => ({ type: 'QuotaClaimed', data: { saleId, userId, reservationId: `r-${userId}`, quantity: 1, claimedAt: 1_000 } });
const placed = (saleId: string, orderId: string, shard: number) => ({
  type: 'OrderPlaced',
  data: { orderId, saleId, shard, userId: 'u', quantity: 1, unitPrice: 500, amount: 500, expiresAt: 9_000, placedAt: 1_000 },
});

const append = async (store: EventStore, stream: string, event: { type: string; data: object }): Promise<void> => {
  const length = (await store.readStream(stream)).length;
  await store.append(stream, [encodeEvent(stream, event as never, {})], length === 0 ? NO_STREAM : length - 1);
};

/** A history: two sales, their claims and orders; `from` offsets ids so a later batch adds new ones. */
const writeHistory = async (store: EventStore, from: number, count: number): Promise<void> => {
  for (let i = from; i < from + count; i++) {
    const saleId = `sale-${i % 2}`;
    await append(store, `buyer-${saleId}-u${i}`, claimed(saleId, `u${i}`));
    await append(store, `inventory-${saleId}-${i % 2}`, placed(saleId, `order-${i}`, i % 2));
  }
};

/** A store holding the two sales (scheduled, stock allocated), nothing else yet. */
const storeWithSales = async (): Promise<MemoryEventStore> => {
  const store = new MemoryEventStore(() => 1_000);
  for (const saleId of ['sale-0', 'sale-1']) {
    await store.append(`sale-${saleId}`, [encodeEvent(`sale-${saleId}`, saleScheduled(saleId) as never, {}), encodeEvent(`sale-${saleId}`, stockAllocated(saleId) as never, {})], NO_STREAM);
  }
  return store;
};

const freshIndexes = (): CatalogIndexes => ({ catalogue: new SaleCatalogue(), locator: new OrderLocator(), claimants: new ClaimantIndex() });

/** A LogIndexer as the api builds it, on its own indexes, recording where its subscription starts. */
const openIndexer = (store: EventStore, file: string): { indexer: LogIndexer; indexes: CatalogIndexes; subscribedFrom: number[] } => {
  const indexes = freshIndexes();
  const subscribedFrom: number[] = [];
  const watched: EventStore = Object.assign(Object.create(store) as EventStore, {
    subscribeToAll: (after: number) => {
      subscribedFrom.push(after);
      return store.subscribeToAll(after);
    },
  });
  // Small rows, so that a snapshot of this history spans many of them.
  const snapshots = new SqliteCatalogSnapshots(file, 7);
  const indexer = new LogIndexer(watched, [indexes.catalogue, indexes.locator, indexes.claimants], logger, { snapshot: { snapshots, indexes } });
  return { indexer, indexes, subscribedFrom };
};

/** Indexes holding one sale named `saleId`, with `count` orders and claimants of its own (ids prefixed by it). */
const indexesOf = (saleId: string, count: number): CatalogIndexes => {
  const indexes = freshIndexes();
  indexes.catalogue.apply(saleScheduled(saleId) as never);
  for (let i = 0; i < count; i++) {
    indexes.locator.place(`${saleId}-order-${i}`, saleId, i % 2);
    indexes.claimants.note(saleId, `${saleId}-u${i}`);
  }
  return indexes;
};

/** What two indexes hold, comparable with toEqual. */
const contentOf = (indexes: CatalogIndexes) => ({
  sales: indexes.catalogue.allSales().map((s) => s.definition.saleId),
  orders: [...indexes.locator.entries()].sort(),
  claimants: [...indexes.claimants.entries()].sort(),
});

const expectIndexesOf = (indexes: CatalogIndexes, orders: number): void => {
  expect(indexes.catalogue.allSales().map((s) => [s.definition.saleId, s.allocations])).toEqual([
    ['sale-0', [5, 5]],
    ['sale-1', [5, 5]],
  ]);
  expect(indexes.locator.size).toBe(orders);
  for (let i = 0; i < orders; i++) {
    expect(indexes.locator.locate(`order-${i}`)).toEqual({ saleId: `sale-${i % 2}`, shard: i % 2 });
    expect(indexes.claimants.mayHaveClaimed(`sale-${i % 2}`, `u${i}`)).toBe(true);
    expect(indexes.claimants.mayHaveClaimed(`sale-${(i + 1) % 2}`, `u${i}`)).toBe(false);
  }
};

describe('the catalog snapshot (DATA_DIR/catalog.sqlite)', () => {
  let dir: string;
  let file: string;
  let store: MemoryEventStore;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'catalog-snapshot-'));
    file = path.join(dir, CATALOG_SNAPSHOT_FILE);
    store = await storeWithSales();
    await writeHistory(store, 0, 300);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a DATA_DIR without one (written before it existed) is folded from 0, and the stop writes one at the position reached', async () => {
    const first = openIndexer(store, file);
    await first.indexer.start();
    expect(first.subscribedFrom).toEqual([0]);
    expectIndexesOf(first.indexes, 300);
    first.indexer.stop();

    const kept = new SqliteCatalogSnapshots(file);
    expect(kept.anchor()?.position).toBe(await store.headPosition());
    kept.close();
  });

  it('the next start loads it and replays only the log after it, to the same indexes as a fold from 0', async () => {
    const first = openIndexer(store, file);
    await first.indexer.start();
    first.indexer.stop();
    const snapshotAt = await store.headPosition();
    // Appended while no api ran (the worker's releases, another replica): the replay after the snapshot brings them.
    await writeHistory(store, 300, 50);

    const second = openIndexer(store, file);
    await second.indexer.start();
    expect(second.subscribedFrom).toEqual([snapshotAt]);
    expect(second.indexer.position).toBe(await store.headPosition());
    expectIndexesOf(second.indexes, 350);
    second.indexer.stop();
  });

  it('one of the previous format (a row per order) is ignored: the indexes are folded from 0, and the stop writes the current one', async () => {
    const old = new Database(file);
    old.exec(`
      CREATE TABLE snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), format INTEGER NOT NULL, position INTEGER NOT NULL, sales TEXT NOT NULL);
      CREATE TABLE orders (order_id TEXT PRIMARY KEY, sale_id TEXT NOT NULL, shard INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE claimants (sale_id TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY (sale_id, user_id)) WITHOUT ROWID;
    `);
    old.prepare('INSERT INTO snapshot (id, format, position, sales) VALUES (1, 1, ?, ?)').run(await store.headPosition(), '[]');
    old.close();

    const first = openIndexer(store, file);
    await first.indexer.start();
    expect(first.subscribedFrom).toEqual([0]);
    expectIndexesOf(first.indexes, 300);
    first.indexer.stop();

    const second = openIndexer(store, file);
    await second.indexer.start();
    expect(second.subscribedFrom).toEqual([await store.headPosition()]);
    expectIndexesOf(second.indexes, 300);
    second.indexer.stop();
  });

  it("one taken of another log, as long or longer, is ignored (the event at its position is not the one it was taken at), and the stop replaces it", async () => {
    const other = await storeWithSales();
    await writeHistory(other, 1_000, 250);
    const foreign = openIndexer(other, file);
    await foreign.indexer.start();
    foreign.indexer.stop();
    expect(await other.headPosition()).toBeLessThanOrEqual(await store.headPosition());

    const first = openIndexer(store, file);
    await first.indexer.start();
    expect(first.subscribedFrom).toEqual([0]);
    expectIndexesOf(first.indexes, 300);
    expect(first.indexes.locator.locate('order-1000')).toBeUndefined();
    first.indexer.stop();

    const second = openIndexer(store, file);
    await second.indexer.start();
    expect(second.subscribedFrom).toEqual([await store.headPosition()]);
    second.indexer.stop();
  });

  it('one ahead of the log (another store, or one that lost its tail) is ignored: the indexes are folded from 0', async () => {
    const first = openIndexer(store, file);
    await first.indexer.start();
    first.indexer.stop();

    const shorter = await storeWithSales();
    await writeHistory(shorter, 0, 10);
    const second = openIndexer(shorter, file);
    await second.indexer.start();
    expect(second.subscribedFrom).toEqual([0]);
    expectIndexesOf(second.indexes, 10);
    second.indexer.stop();
  });

  describe('restore, while another connection on the file saves', () => {
    const a1 = { position: 10, eventId: 'event-10' };
    const a2 = { position: 20, eventId: 'event-20' };

    it('loads the snapshot as it was when the restore began, none of the one saved meanwhile', async () => {
      const x = indexesOf('sale-x', 10);
      const a = new SqliteCatalogSnapshots(file, 2);
      const b = new SqliteCatalogSnapshots(file, 2);
      a.save(x, a1);
      const into = freshIndexes();
      const restoring = a.restore(into, a1);
      // One chunk read, the next ones not yet: the other connection replaces the snapshot now.
      await new Promise((resolve) => setImmediate(resolve));
      b.save(indexesOf('sale-y', 12), a2);
      expect(await restoring).toBe(a1.position);
      expect(contentOf(into)).toEqual(contentOf(x));
      expect(b.anchor()).toEqual(a2);
      a.close();
      b.close();
    });

    it('loads nothing and returns 0 when the snapshot is no longer at the anchor checked (saved again since)', async () => {
      const a = new SqliteCatalogSnapshots(file, 2);
      const b = new SqliteCatalogSnapshots(file, 2);
      a.save(indexesOf('sale-x', 10), a1);
      const checked = a.anchor();
      expect(checked).toEqual(a1);
      b.save(indexesOf('sale-y', 12), a2);
      const into = freshIndexes();
      expect(await a.restore(into, checked as typeof a1)).toBe(0);
      expect(contentOf(into)).toEqual({ sales: [], orders: [], claimants: [] });
      a.close();
      b.close();
    });
  });
});
