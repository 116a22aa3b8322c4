import fc from 'fast-check';
import { EventStore, MemoryEventStore, ReadAllOptions, RecordedEvent } from '@flash/event-store';
import { dumpGeneration as dump } from '../test/generation-dump';
import { appendSaleHistory } from '../test/sale-history';
import { ANALYTICS, analyticsProjection, SALE_SUMMARY, SALE_TIMELINE } from './analytics/analytics.projection';
import { AnalyticsQueries } from './analytics/analytics-queries';
import { RejectionLog } from './analytics/rejection-log';
import { DocumentReplacement, ResultRow } from './document-store';
import { SqliteDocumentStore } from './embedded/sqlite-document-store';
import { physicalCollection } from './projection';
import { ProjectionHost, readActiveGeneration, rebuildGeneration } from './projection-host';
import { ProjectionRunner } from './projection-runner';

const options = (generation: number, batchSize = 50) => ({ generation, batchSize, idleMs: 5, now: () => Date.now() });
const hostOptions = { batchSize: 50, idleMs: 5, now: () => Date.now(), pointerPollMs: 20, dropAfterMs: 60_000 };

async function cleanPass(store: EventStore): Promise<Record<string, ResultRow[]>> {
  const docs = new SqliteDocumentStore(':memory:');
  await new ProjectionRunner(store, docs, analyticsProjection, options(1, 1000)).catchUp();
  const result = await dump(docs, 1);
  await docs.close();
  return result;
}

/** Hands every event out twice: a subscription that re-delivers (at-least-once at its worst). */
class DeliverTwice implements Pick<EventStore, 'readAll' | 'headPosition'> {
  constructor(private readonly inner: EventStore) {}
  async readAll(o: ReadAllOptions): Promise<RecordedEvent[]> {
    const page = await this.inner.readAll({ after: o.after, maxCount: Math.max(1, Math.floor(o.maxCount / 2)) });
    return page.flatMap((e) => [e, e]);
  }
  headPosition(): Promise<number> {
    return this.inner.headPosition();
  }
}

/** A document store that dies in the middle of a batch: the first `keep` documents land, the rest and the checkpoint don't. */
class DiesMidBatch extends SqliteDocumentStore {
  armed = false;
  keep = 0;
  override async replace(replacements: readonly DocumentReplacement[]): Promise<void> {
    if (!this.armed) return super.replace(replacements);
    this.armed = false;
    await super.replace(replacements.slice(0, Math.min(this.keep, replacements.length - 1)));
    throw new Error('killed mid-batch');
  }
}

describe('analytics projection through the runner', () => {
  let store: MemoryEventStore;
  let expected: Awaited<ReturnType<typeof appendSaleHistory>>;

  beforeAll(async () => {
    store = new MemoryEventStore();
    expected = await appendSaleHistory(store, { saleId: 's1', stock: 300, shards: 4, orders: 400, seed: 7 });
  });

  it('derives the summary the history implies, and timeline buckets that sum to it', async () => {
    const docs = new SqliteDocumentStore(':memory:');
    await new ProjectionRunner(store, docs, analyticsProjection, options(1)).catchUp();
    const summary = await docs.get(physicalCollection(SALE_SUMMARY, 1), 's1');
    expect(summary).toMatchObject({
      totalStock: 300,
      orders: expected.orders,
      reserved: expected.reserved,
      paid: expected.paid,
      expired: expected.expired,
      cancelled: expected.cancelled,
      refundPending: expected.refundPending,
      uniqueBuyers: expected.uniqueBuyers,
      available: expected.available,
    });
    const { rows } = await docs.aggregate(physicalCollection(SALE_TIMELINE, 1), [{ $match: { saleId: 's1' } }], { maxRows: 10_000, maxTimeMs: 10_000 });
    const sum = (field: string) => rows.reduce((n, r) => n + (r[field] as number), 0);
    expect(sum('reserved')).toBe(expected.orders);
    expect(sum('paid')).toBe(expected.paid);
    expect(sum('expired')).toBe(expected.expired + expected.refundPending);
    expect(sum('cancelled')).toBe(expected.cancelled);
    await docs.close();
  });

  it('delivering every event twice leaves the same documents as one clean pass', async () => {
    const docs = new SqliteDocumentStore(':memory:');
    await new ProjectionRunner(new DeliverTwice(store) as unknown as EventStore, docs, analyticsProjection, options(1, 37)).catchUp();
    expect(await dump(docs, 1)).toEqual(await cleanPass(store));
    await docs.close();
  });

  it('a runner killed mid-batch and resumed leaves the same documents as one clean pass', async () => {
    const clean = await cleanPass(store);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 5, max: 120 }), fc.array(fc.tuple(fc.integer({ min: 1, max: 30 }), fc.nat({ max: 200 })), { minLength: 1, maxLength: 4 }), async (batchSize, kills) => {
        const docs = new DiesMidBatch(':memory:');
        for (const [afterBatches, keep] of kills) {
          let batches = 0;
          const counting = new ProjectionRunner(store, docs, analyticsProjection, {
            ...options(1, batchSize),
            onBatch: () => {
              batches += 1;
              if (batches === afterBatches) {
                docs.armed = true;
                docs.keep = keep;
              }
            },
          });
          await counting.loadCheckpoint();
          await counting.catchUp().catch((error: unknown) => {
            if (!(error instanceof Error) || error.message !== 'killed mid-batch') throw error;
          });
        }
        const resumed = new ProjectionRunner(store, docs, analyticsProjection, options(1, batchSize));
        await resumed.loadCheckpoint();
        await resumed.catchUp();
        expect(await dump(docs, 1)).toEqual(clean);
        await docs.close();
      }),
      { numRuns: 15 },
    );
  });
});

describe('blue/green rebuild', () => {
  it('builds a copy identical to the live one and switches without a window where queries fail', async () => {
    const store = new MemoryEventStore();
    await appendSaleHistory(store, { saleId: 's1', stock: 500, shards: 4, orders: 700, seed: 11 });
    const docs = new SqliteDocumentStore(':memory:');
    const host = new ProjectionHost(store, docs, analyticsProjection, hostOptions);
    await host.start();
    await host.waitForPosition(await store.headPosition(), 20_000);
    const queries = new AnalyticsQueries(docs, host, new RejectionLog(docs), { maxRows: 1000, maxTimeMs: 5000 });
    const before = await queries.summary('s1');
    const live = await dump(docs, 1);

    const probing = { on: true };
    let answered = 0;
    const failures: unknown[] = [];
    const probe = (async () => {
      while (probing.on) {
        try {
          const summary = await queries.summary('s1');
          const rows = await queries.query('orders', [{ $count: 'n' }]);
          if (!summary || summary.orders !== before?.orders || rows.rows[0]?.n !== before.orders) failures.push({ summary, rows });
          answered += 1;
        } catch (error) {
          failures.push(error);
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    const fresh = await host.rebuild();
    await new Promise((r) => setTimeout(r, 20));
    probing.on = false;
    await probe;

    expect(failures).toEqual([]);
    expect(answered).toBeGreaterThan(0);
    expect(fresh.generation).toBe(2);
    expect(host.generation).toBe(2);
    expect(await readActiveGeneration(docs, ANALYTICS)).toBe(2);
    expect(await dump(docs, 2)).toEqual(live);
    await host.stop();
    await docs.close();
  });

  it('a running host follows a switch made by another process (the CLI) and keeps up with new events', async () => {
    const store = new MemoryEventStore();
    await appendSaleHistory(store, { saleId: 's1', stock: 50, shards: 2, orders: 60, seed: 3 });
    const docs = new SqliteDocumentStore(':memory:');
    const host = new ProjectionHost(store, docs, analyticsProjection, hostOptions);
    await host.start();
    await rebuildGeneration(store, docs, analyticsProjection, hostOptions);
    const deadline = Date.now() + 5000;
    while (host.generation !== 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(host.generation).toBe(2);
    await appendSaleHistory(store, { saleId: 's2', stock: 10, shards: 1, orders: 5, seed: 4 });
    await host.waitForPosition(await store.headPosition());
    expect(await docs.get(physicalCollection(SALE_SUMMARY, 2), 's2')).toMatchObject({ totalStock: 10 });
    await host.stop();
    await docs.close();
  });
});
