import { AppendSignal, catchUpSubscription, encodeEvent, EventStore, MemoryEventStore, NO_STREAM, RecordedEvent, SubscribeOptions, Subscription } from '@flash/event-store';
import pino from 'pino';
import { ClaimantIndex } from './claimant-index';
import { OrderLocator } from './order-locator';
import { LogIndexer } from './log-indexer';
import { SaleCatalogue } from './sale-catalogue';

const logger = pino({ level: 'silent' });
const orderPlaced = (orderId: string) => ({
  type: 'OrderPlaced' as const,
  data: { orderId, saleId: 'sale-1', shard: 2, userId: 'u-1', quantity: 1, unitPrice: 500, amount: 500, expiresAt: 9_000, placedAt: 1_000 },
});

describe('LogIndexer.reachHead: a lookup that missed waits for what another process appended', () => {
  it('resolves once the indexes applied the log up to the head it read, and the order is found', async () => {
    const store = new MemoryEventStore(() => 1_000);
    // The log reaches this process a moment after the append (as across processes): each event 30 ms late.
    const late: EventStore = Object.assign(Object.create(store) as EventStore, {
      subscribeToAll: (after: number): Subscription => {
        const subscription = store.subscribeToAll(after);
        const iterator = subscription[Symbol.asyncIterator]();
        return Object.assign(Object.create(subscription) as Subscription, {
          [Symbol.asyncIterator]: () => ({ next: async () => { const next = await iterator.next(); await new Promise((r) => setTimeout(r, 30)); return next; } }),
        });
      },
    });
    const locator = new OrderLocator();
    const indexer = new LogIndexer(late, [locator], logger);
    await indexer.start();
    // Appended by another process: this one only learns of it through the log.
    await store.append('inventory-sale-1-2', [encodeEvent('inventory-sale-1-2', orderPlaced('order-1') as never, {})], NO_STREAM);
    await indexer.reachHead();
    expect(locator.locate('order-1')).toMatchObject({ saleId: 'sale-1', shard: 2 });
    indexer.stop();
  });

  it('hurries a follower paced to spare the store: the lookup waits for one read, not for the pace or a notification', async () => {
    const store = new MemoryEventStore(() => 1_000);
    // Another process's commit as a paced api sees it (API_FOLLOW_MS, here a minute): its notification never comes.
    const paced: EventStore = Object.assign(Object.create(store) as EventStore, {
      subscribeToAll: (after: number): Subscription =>
        catchUpSubscription({ readAll: (o) => store.readAll(o), waitForAppend: () => new AppendSignal().wait() }, after, { followEveryMs: 60_000 }),
    });
    const locator = new OrderLocator();
    const indexer = new LogIndexer(paced, [locator], logger);
    await indexer.start();
    await store.append('inventory-sale-1-2', [encodeEvent('inventory-sale-1-2', orderPlaced('order-1') as never, {})], NO_STREAM);
    // Unhurried, reachHead would give up after its timeout with the order still unknown here.
    await indexer.reachHead(2000);
    expect(locator.locate('order-1')).toMatchObject({ saleId: 'sale-1', shard: 2 });
    indexer.stop();
  });

  it('gives up after its timeout when the log does not bring the head (the lookup then answers from what it has)', async () => {
    const store = new MemoryEventStore(() => 1_000);
    // The head says one event more than the subscription ever delivers.
    const lagging: EventStore = Object.assign(Object.create(store) as EventStore, {
      headPosition: async () => (await store.headPosition()) + 1,
      subscribeToAll: (after: number): Subscription => store.subscribeToAll(after),
    });
    const indexer = new LogIndexer(lagging, [new OrderLocator()], logger);
    await store.append('inventory-sale-1-2', [encodeEvent('inventory-sale-1-2', orderPlaced('order-1') as never, {})], NO_STREAM);
    const starting = indexer.start();
    await store.append('inventory-sale-1-2', [encodeEvent('inventory-sale-1-2', orderPlaced('order-2') as never, {})], 0);
    await starting;
    let settled = false;
    const waiting = indexer.reachHead(200).then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    await waiting;
    expect(settled).toBe(true);
    indexer.stop();
  });
});

describe('LogIndexer.start: the catch-up at start', () => {
  it('lets the event loop run other work (a liveness probe) while it replays a long log, and still applies all of it', async () => {
    const store = new MemoryEventStore(() => 1_000);
    const EVENTS = 60_000;
    for (let i = 0; i < EVENTS / 100; i++) {
      const stream = `inventory-sale-1-${i}`;
      await store.append(stream, Array.from({ length: 100 }, (_, j) => encodeEvent(stream, orderPlaced(`order-${i * 100 + j}`) as never, {})), NO_STREAM);
    }
    const locator = new OrderLocator();
    const indexer = new LogIndexer(store, [locator], logger);
    let ticksDuringCatchUp = 0;
    let done = false;
    const tick = (): void => {
      if (done) return;
      ticksDuringCatchUp++;
      setImmediate(tick);
    };
    setImmediate(tick);
    await indexer.start();
    done = true;
    expect(ticksDuringCatchUp).toBeGreaterThan(1);
    expect(locator.locate(`order-${EVENTS - 1}`)).toBeDefined();
    indexer.stop();
  });
});

describe('LogIndexer: what it asks the store for', () => {
  it("asks for the payloads of the indexed types only, and feeds the indexes from them while the others come bare", async () => {
    const store = new MemoryEventStore(() => 1_000);
    const asked: Array<SubscribeOptions | undefined> = [];
    // As the PostgreSQL store does: the events of the types not asked for come without data and metadata.
    const bare: EventStore = Object.assign(Object.create(store) as EventStore, {
      subscribeToAll: (after: number, options?: SubscribeOptions): Subscription => {
        asked.push(options);
        const subscription = store.subscribeToAll(after);
        const iterator = subscription[Symbol.asyncIterator]();
        const strip = (e: RecordedEvent): RecordedEvent => (options?.payloadOf === undefined || options.payloadOf.includes(e.type) ? e : { ...e, data: {}, metadata: { schemaVersion: e.metadata.schemaVersion } });
        return Object.assign(Object.create(subscription) as Subscription, {
          [Symbol.asyncIterator]: () => ({ next: async () => { const next = await iterator.next(); return next.done === true ? next : { done: false, value: strip(next.value) }; } }),
        });
      },
    });
    const stream = 'inventory-sale-1-2';
    const reserved = { type: 'StockReserved' as const, data: { saleId: 'sale-1', shard: 2, orderId: 'order-1', userId: 'u-1', quantity: 1, reservedAt: 1_000 } };
    await store.append(stream, [encodeEvent(stream, reserved, {}), encodeEvent(stream, orderPlaced('order-1') as never, {})], NO_STREAM);
    const claimed = { type: 'QuotaClaimed' as const, data: { saleId: 'sale-1', userId: 'u-1', reservationId: 'order-1', idempotencyKey: 'key-0001', quantity: 1, claimedAt: 1_000 } };
    await store.append('buyer-sale-1-u-1', [encodeEvent('buyer-sale-1-u-1', claimed, {})], NO_STREAM);
    const recorded: RecordedEvent[] = [];
    const locator = new OrderLocator();
    const claimants = new ClaimantIndex();
    const indexer = new LogIndexer(bare, [new SaleCatalogue(), locator, claimants], logger, { onRecorded: (e) => recorded.push(e) });
    await indexer.start();
    indexer.stop();
    // Where several processes claim, the claimant index is not kept (BuyerQuota reads every buyer stream): nor read.
    const notSole = new LogIndexer(bare, [new SaleCatalogue(), new OrderLocator()], logger);
    await notSole.start();
    notSole.stop();

    expect(asked).toHaveLength(2);
    expect([...(asked[0]?.payloadOf ?? [])].sort()).toEqual(['OrderPlaced', 'QuotaClaimed', 'SaleClosed', 'SaleScheduled', 'SaleStockAllocated']);
    expect([...(asked[1]?.payloadOf ?? [])].sort()).toEqual(['OrderPlaced', 'SaleClosed', 'SaleScheduled', 'SaleStockAllocated']);
    // Every event still reaches onRecorded, in order, with its stream and revision (the shard writers' watch).
    expect(recorded.map((e) => [e.type, e.streamId, e.revision])).toEqual([
      ['StockReserved', stream, 0],
      ['OrderPlaced', stream, 1],
      ['QuotaClaimed', 'buyer-sale-1-u-1', 0],
    ]);
    expect(locator.locate('order-1')).toMatchObject({ saleId: 'sale-1', shard: 2 });
    expect(claimants.mayHaveClaimed('sale-1', 'u-1')).toBe(true);
  });
});
