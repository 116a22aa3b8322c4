import { MemoryEventStore } from '@flash/event-store';
import { MongoStandIn } from '../../../../test/support/mongo-standin';
import { appendSaleHistory } from '../../test/sale-history';
import { DocumentStore, PipelineStage } from '../document-store';
import { SqliteDocumentStore } from '../embedded/sqlite-document-store';
import { MongoDocumentStore } from '../mongo/mongo-document-store';
import { ProjectionHost } from '../projection-host';
import { ProjectionRunner } from '../projection-runner';
import { AnalyticsQueries } from './analytics-queries';
import { analyticsProjection } from './analytics.projection';
import { RejectionLog } from './rejection-log';

/**
 * The promise to analysts: the same pipeline gives the same rows embedded (SQLite + mingo) and on MongoDB. With
 * MONGO_URL set the Mongo side is that server; otherwise it is the test-only wire stand-in, which is NOT MongoDB.
 */
const realServerUrl = process.env.MONGO_URL;
const target = realServerUrl ? 'MongoDB at MONGO_URL' : 'the test-only MongoDB wire stand-in';

const PIPELINES: Array<[string, string, PipelineStage[]]> = [
  ['orders by status', 'orders', [{ $group: { _id: '$status', n: { $sum: 1 }, units: { $sum: '$quantity' } } }, { $sort: { _id: 1 } }]],
  ['top buyers', 'buyers', [{ $sort: { orders: -1, _id: 1 } }, { $limit: 5 }, { $project: { _id: 0, userId: 1, orders: 1, units: 1 } }]],
  ['paid revenue per shard', 'orders', [{ $match: { status: 'paid' } }, { $group: { _id: '$shard', revenue: { $sum: '$amount' } } }, { $sort: { _id: 1 } }]],
  ['busiest seconds', 'sale_timeline', [{ $sort: { reserved: -1, t: 1 } }, { $limit: 3 }, { $project: { _id: 0, t: 1, reserved: 1, paid: 1 } }]],
  ['orders that changed status twice', 'orders', [{ $match: { 'history.2': { $exists: true } } }, { $count: 'n' }]],
  ['summary', 'sale_summary', [{ $project: { _id: 1, orders: 1, paid: 1, expired: 1, cancelled: 1, refundPending: 1, available: 1, uniqueBuyers: 1 } }]],
  ['refund reasons', 'orders', [{ $unwind: '$refunds' }, { $sortByCount: '$refunds.reason' }]],
];

describe(`analytics pipelines give the same rows embedded and on ${target}`, () => {
  const standIn = realServerUrl ? undefined : new MongoStandIn();
  const store = new MemoryEventStore();
  const dbName = `flash_parity_${Date.now().toString(36)}`;
  let embedded: DocumentStore;
  let mongo: MongoDocumentStore;
  const answers = new Map<string, AnalyticsQueries>();

  beforeAll(async () => {
    await standIn?.start();
    await appendSaleHistory(store, { saleId: 's1', stock: 200, shards: 4, orders: 260, seed: 21 });
    embedded = new SqliteDocumentStore(':memory:');
    mongo = await MongoDocumentStore.connect(realServerUrl ?? standIn?.url ?? '', { dbName });
    for (const [name, docs] of [['embedded', embedded], ['mongo', mongo]] as const) {
      await new ProjectionRunner(store, docs, analyticsProjection, { generation: 1, batchSize: 100, idleMs: 5, now: () => 0 }).catchUp();
      const host = new ProjectionHost(store, docs, analyticsProjection, { batchSize: 100, idleMs: 5, now: () => 0, pointerPollMs: 60_000, dropAfterMs: 60_000 });
      await host.start();
      await host.stop();
      answers.set(name, new AnalyticsQueries(docs, host, new RejectionLog(docs), { maxRows: 1000, maxTimeMs: 10_000 }));
    }
  });

  afterAll(async () => {
    for (const collection of await mongo.collections()) await mongo.drop(collection);
    await mongo.close();
    await embedded.close();
    await standIn?.stop();
  });

  it.each(PIPELINES)('%s', async (_name, collection, pipeline) => {
    const fromEmbedded = await answers.get('embedded')?.query(collection, pipeline);
    const fromMongo = await answers.get('mongo')?.query(collection, pipeline);
    expect(fromEmbedded?.rows.length).toBeGreaterThan(0);
    expect(fromMongo).toEqual(fromEmbedded);
  });

  it('and the same summary and timeline', async () => {
    const summary = await answers.get('mongo')?.summary('s1');
    expect(summary).toEqual(await answers.get('embedded')?.summary('s1'));
    expect(summary?.orders).toBeGreaterThan(0);
    expect(await answers.get('mongo')?.timeline('s1', '10s')).toEqual(await answers.get('embedded')?.timeline('s1', '10s'));
  });
});
