import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buyerStream, DomainEvent, EVENT_SCHEMA_VERSIONS, EventType } from '@flash/domain';
import { encodeEvent, EventStore, NO_STREAM, SqliteEventStore, SqliteLogReader } from '@flash/event-store';
import { dumpGeneration as dump } from '../test/generation-dump';
import { appendSaleHistory } from '../test/sale-history';
import { analyticsProjection } from './analytics/analytics.projection';
import { ResultRow, StoredDocument } from './document-store';
import { SqliteDocumentStore } from './embedded/sqlite-document-store';
import { DocumentSession, ProjectedEvent } from './projection';
import { readActiveGeneration, rebuildGeneration } from './projection-host';
import { CHECKPOINT_COLLECTION, checkpointId, ProjectionRunner } from './projection-runner';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-rebuild-'));
let fileCounter = 0;
const newFile = (): string => path.join(dir, `events-${String(++fileCounter)}.sqlite`);

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const options = (generation: number, batchSize: number) => ({ generation, batchSize, idleMs: 5, now: () => Date.now() });

/** Two sales, buyer streams the analytics projection ignores between them, and an event type no reader knows. */
async function fillLog(store: EventStore): Promise<void> {
  await appendSaleHistory(store, { saleId: 's1', stock: 120, shards: 3, orders: 160, seed: 5 });
  for (let i = 0; i < 40; i++) {
    const stream = buyerStream('s1', `buyer-${String(i)}`);
    const claimed: DomainEvent = {
      type: 'QuotaClaimed',
      data: { saleId: 's1', userId: `buyer-${String(i)}`, reservationId: `r${String(i)}`, idempotencyKey: `k${String(i)}`, quantity: 1, claimedAt: 1_800_000_000_000 },
    };
    await store.append(stream, [encodeEvent(stream, claimed)], NO_STREAM);
  }
  await store.append('odd-1', [{ eventId: 'odd-event-1', type: 'FromAFutureRelease', data: {}, metadata: { schemaVersion: 1 } }], NO_STREAM);
  await appendSaleHistory(store, { saleId: 's2', stock: 60, shards: 2, orders: 90, seed: 6 });
}

describe('a rebuild through the SQLite log reader', () => {
  let file: string;
  let store: SqliteEventStore;
  let live: Record<string, ResultRow[]>;

  beforeAll(async () => {
    file = newFile();
    store = new SqliteEventStore({ file, pollMs: 60_000 });
    await fillLog(store);
    // The reference: the live runner, reading readAll pages of every event, in small batches.
    const docs = new SqliteDocumentStore(':memory:');
    await new ProjectionRunner(store, docs, analyticsProjection, options(1, 50)).catchUp();
    live = await dump(docs, 1);
    await docs.close();
  });

  afterAll(async () => {
    await store.close();
  });

  it.each([1, 7, 64, 1000, 1_000_000])('leaves the documents the live runner leaves (batches of %i events)', async (batchSize) => {
    const reader = new SqliteLogReader({ file });
    const docs = new SqliteDocumentStore(':memory:');
    const batches: number[] = [];
    const fresh = await rebuildGeneration(store, docs, analyticsProjection, {
      batchSize,
      idleMs: 5,
      now: Date.now,
      logReader: reader,
      onBatch: (progress) => batches.push(progress.position),
    });
    const head = await store.headPosition();

    expect(await dump(docs, 1)).toEqual(live);
    expect(fresh.progress().position).toBe(head);
    expect(await docs.get(CHECKPOINT_COLLECTION, checkpointId(analyticsProjection.name, 1))).toMatchObject({ position: head });
    expect(await readActiveGeneration(docs, analyticsProjection.name)).toBe(1);
    // Checkpoints only move forward, one per batch, the last at the head.
    expect(batches).toEqual([...batches].sort((a, b) => a - b));
    expect(batches.at(-1)).toBe(head);
    reader.close();
    await docs.close();
  });

  it('after a first rebuild, a second one into the next generation gives the same documents', async () => {
    const reader = new SqliteLogReader({ file });
    const docs = new SqliteDocumentStore(':memory:');
    await rebuildGeneration(store, docs, analyticsProjection, { batchSize: 100, idleMs: 5, now: Date.now, logReader: reader });
    const second = await rebuildGeneration(store, docs, analyticsProjection, { batchSize: 33, idleMs: 5, now: Date.now, logReader: reader });
    expect(second.generation).toBe(2);
    expect(await dump(docs, 2)).toEqual(live);
    reader.close();
    await docs.close();
  });

  it('looks nothing up in a generation it just emptied, until it has written to it', async () => {
    const reader = new SqliteLogReader({ file });
    const docs = new SqliteDocumentStore(':memory:');
    let batches = 0;
    /** How many batches were written when each lookup was made. */
    const lookups: number[] = [];
    const getMany = docs.getMany.bind(docs);
    docs.getMany = async (collection: string, ids: readonly string[]): Promise<StoredDocument[]> => {
      lookups.push(batches);
      return getMany(collection, ids);
    };
    await rebuildGeneration(store, docs, analyticsProjection, { batchSize: 200, idleMs: 5, now: Date.now, logReader: reader, onBatch: () => (batches += 1) });

    expect(batches).toBeGreaterThan(2);
    // The first batch loaded nothing; the later ones load what they touch.
    expect(lookups.length).toBeGreaterThan(0);
    expect(lookups.every((written) => written >= 1)).toBe(true);
    expect(await dump(docs, 1)).toEqual(live);
    reader.close();
    await docs.close();
  });

  it('killed in the middle of writing a batch and resumed, leaves the documents of one clean pass', async () => {
    class DiesOnce extends SqliteDocumentStore {
      armed = false;
      override async replace(replacements: Parameters<SqliteDocumentStore['replace']>[0]): Promise<void> {
        if (!this.armed) return super.replace(replacements);
        this.armed = false;
        // The first half of the documents lands (as on MongoDB, collection by collection), the checkpoint does not.
        await super.replace(replacements.slice(0, Math.floor((replacements.length - 1) / 2)));
        throw new Error('killed mid-batch');
      }
    }
    const reader = new SqliteLogReader({ file });
    const docs = new DiesOnce(':memory:');
    let batches = 0;
    const first = new ProjectionRunner(store, docs, analyticsProjection, {
      ...options(1, 150),
      logReader: reader,
      onBatch: () => {
        batches += 1;
        if (batches === 2) docs.armed = true;
      },
    });
    await first.loadCheckpoint();
    await expect(first.catchUp()).rejects.toThrow('killed mid-batch');
    const resumed = new ProjectionRunner(store, docs, analyticsProjection, { ...options(1, 150), logReader: reader });
    expect(await resumed.loadCheckpoint()).toBeGreaterThan(0);
    await resumed.catchUp();
    expect(await dump(docs, 1)).toEqual(live);
    reader.close();
    await docs.close();
  });

  it('reports progress as it reads a batch, before the batch is written', async () => {
    const reader = new SqliteLogReader({ file });
    const docs = new SqliteDocumentStore(':memory:');
    const read: number[] = [];
    await rebuildGeneration(store, docs, analyticsProjection, { batchSize: 1_000_000, idleMs: 5, now: Date.now, logReader: reader, onRead: (p) => read.push(p) });
    expect(read.length).toBeGreaterThan(1);
    expect(read.at(-1)).toBe(await store.headPosition());
    reader.close();
    await docs.close();
  });
});

describe('the analytics projection declares the event types it acts on', () => {
  const sample: Record<EventType, DomainEvent> = {
    SaleScheduled: {
      type: 'SaleScheduled',
      data: {
        saleId: 's',
        sku: 'k',
        name: 'n',
        price: 1,
        totalStock: 1,
        shards: 1,
        startsAt: 0,
        endsAt: 1,
        perUserLimit: 1,
        inventoryMode: 'reserve',
        holdTtlMs: 1,
        challenge: 'none',
        scheduledAt: 0,
      },
    },
    SaleStockAllocated: { type: 'SaleStockAllocated', data: { saleId: 's', allocations: [1] } },
    SaleClosed: { type: 'SaleClosed', data: { saleId: 's', closedAt: 1, reason: 'ended' } },
    QuotaClaimed: { type: 'QuotaClaimed', data: { saleId: 's', userId: 'u', reservationId: 'o', idempotencyKey: 'k', quantity: 1, claimedAt: 1 } },
    QuotaReleased: { type: 'QuotaReleased', data: { saleId: 's', userId: 'u', reservationId: 'o', quantity: 1, reason: 'expired', releasedAt: 1 } },
    StockReserved: { type: 'StockReserved', data: { saleId: 's', shard: 0, orderId: 'o', userId: 'u', quantity: 1, reservedAt: 1 } },
    OrderPlaced: {
      type: 'OrderPlaced',
      data: { saleId: 's', shard: 0, orderId: 'o', userId: 'u', quantity: 1, amount: 1, status: 'reserved', stockTaken: true, placedAt: 1, expiresAt: 2 },
    },
    OrderPaid: { type: 'OrderPaid', data: { saleId: 's', shard: 0, orderId: 'o', paymentId: 'p', amount: 1, paidAt: 1 } },
    ReservationExpired: { type: 'ReservationExpired', data: { saleId: 's', shard: 0, orderId: 'o', userId: 'u', expiredAt: 2 } },
    OrderCancelled: { type: 'OrderCancelled', data: { saleId: 's', shard: 0, orderId: 'o', userId: 'u', cancelledAt: 2 } },
    StockReleased: { type: 'StockReleased', data: { saleId: 's', shard: 0, orderId: 'o', quantity: 1, reason: 'expired' } },
    PaymentRefundRequested: {
      type: 'PaymentRefundRequested',
      data: { saleId: 's', shard: 0, orderId: 'o', userId: 'u', paymentId: 'p', amount: 1, reason: 'order_expired', requestedAt: 3 },
    },
    PaymentReceived: { type: 'PaymentReceived', data: { paymentId: 'p', saleId: 's', shard: 0, orderId: 'o', amount: 1, receivedAt: 1 } },
  };

  it('every type it leaves out touches no document and writes nothing, whatever the documents hold', () => {
    const declared = new Set<string>(analyticsProjection.eventTypes ?? []);
    const ignored = (Object.keys(EVENT_SCHEMA_VERSIONS) as EventType[]).filter((t) => !declared.has(t));
    expect(ignored).toEqual(['QuotaClaimed', 'QuotaReleased', 'PaymentReceived']);
    for (const type of ignored) {
      const e: ProjectedEvent = { event: sample[type], position: 10, recordedAt: 1 };
      expect(analyticsProjection.touches(e)).toEqual([]);
      const session: DocumentSession = {
        get: () => ({ _id: 'x', status: 'reserved', history: [{ status: 'reserved', at: 1, position: 1 }] }),
        update: () => {
          throw new Error(`${type} wrote a document`);
        },
      };
      expect(() => analyticsProjection.apply(e, session)).not.toThrow();
    }
  });

  it('and every type it lists touches a document', () => {
    for (const type of analyticsProjection.eventTypes ?? []) {
      expect(analyticsProjection.touches({ event: sample[type], position: 10, recordedAt: 1 }).length).toBeGreaterThan(0);
    }
  });
});
