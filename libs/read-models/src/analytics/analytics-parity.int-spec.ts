import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MemoryEventStore } from '@flash/event-store';
import { MongoStandIn } from '../../../../test/support/mongo-standin';
import { appendSaleHistory, FixtureOrder } from '../../test/sale-history';
import { DocumentStore, PipelineStage, ResultRow } from '../document-store';
import { SqliteDocumentStore } from '../embedded/sqlite-document-store';
import { WorkerPipelineRunner } from '../embedded/worker-pipeline-runner';
import { MongoDocumentStore } from '../mongo/mongo-document-store';
import { PipelineRunner } from '../pipeline-runner';
import { ProjectionHost } from '../projection-host';
import { ProjectionRunner } from '../projection-runner';
import { AnalyticsQueries, SaleSummary, TimelineRow } from './analytics-queries';
import { analyticsProjection } from './analytics.projection';
import { RejectionLog } from './rejection-log';

/**
 * The promise to analysts: a pipeline gives the right rows embedded (SQLite + mingo) and on MongoDB. Comparing the two
 * sides with each other proves little where both run mingo: without MONGO_URL (in CI) the Mongo side is the test-only
 * wire stand-in (test/support/mongo-standin.ts), which evaluates pipelines with mingo too and is NOT MongoDB. So each
 * side is held to answers computed here in plain TypeScript from the fixture's own record of every order (its ledger),
 * never by mingo: with MONGO_URL set, the Mongo side is a real server and a pipeline it evaluates differently fails.
 */
const realServerUrl = process.env.MONGO_URL;
const mongoSide = realServerUrl ? 'MongoDB at MONGO_URL' : 'the MongoDB wire stand-in (mingo, not MongoDB: set MONGO_URL for a real server)';

const SALE_ID = 's1';
const STOCK = 200;

type Fixture = Awaited<ReturnType<typeof appendSaleHistory>>;

/** The order of `Array.prototype.sort()` on strings: how MongoDB compares ASCII strings. */
const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const tally = <K>(keys: Iterable<K>): Map<K, number> => {
  const counts = new Map<K, number>();
  for (const key of keys) counts.set(key, (counts.get(key) ?? 0) + 1);
  return counts;
};

/** The statuses an order went through, in order (placed as `reserved`). */
const statusesOf = (o: FixtureOrder): string[] => (o.fate === 'refund_pending' ? ['reserved', 'expired', 'refund_pending'] : o.fate === 'reserved' ? ['reserved'] : ['reserved', o.fate]);

/** Per second of the sale, what happened in it, on the times the events carry: the timeline's buckets. */
function seconds(ledger: readonly FixtureOrder[]): Map<number, { reserved: number; paid: number; expired: number; cancelled: number }> {
  const buckets = new Map<number, { reserved: number; paid: number; expired: number; cancelled: number }>();
  const bump = (at: number | undefined, field?: 'reserved' | 'paid' | 'expired' | 'cancelled'): void => {
    if (at === undefined) return;
    const t = Math.floor(at / 1000) * 1000;
    let bucket = buckets.get(t);
    if (!bucket) buckets.set(t, (bucket = { reserved: 0, paid: 0, expired: 0, cancelled: 0 }));
    if (field) bucket[field] += 1;
  };
  for (const o of ledger) {
    bump(o.placedAt, 'reserved');
    bump(o.paidAt, 'paid');
    bump(o.expiredAt, 'expired');
    bump(o.cancelledAt, 'cancelled');
    bump(o.refundRequestedAt); // a second with only a refund in it still has its bucket
  }
  return buckets;
}

function buyers(ledger: readonly FixtureOrder[]): Array<{ id: string; userId: string; orders: number; units: number }> {
  const byUser = new Map<string, { id: string; userId: string; orders: number; units: number }>();
  for (const o of ledger) {
    const buyer = byUser.get(o.userId) ?? { id: `${SALE_ID}:${o.userId}`, userId: o.userId, orders: 0, units: 0 };
    buyer.orders += 1;
    buyer.units += o.quantity;
    byUser.set(o.userId, buyer);
  }
  return [...byUser.values()];
}

const PIPELINES: Array<[string, string, PipelineStage[], (fixture: Fixture) => ResultRow[]]> = [
  [
    'orders by status',
    'orders',
    [{ $group: { _id: '$status', n: { $sum: 1 }, units: { $sum: '$quantity' } } }, { $sort: { _id: 1 } }],
    ({ ledger }) =>
      [...new Set(ledger.map((o) => o.fate))].sort(byCodeUnits).map((status) => {
        const orders = ledger.filter((o) => o.fate === status);
        return { _id: status, n: orders.length, units: orders.reduce((n, o) => n + o.quantity, 0) };
      }),
  ],
  [
    'top buyers',
    'buyers',
    [{ $sort: { orders: -1, _id: 1 } }, { $limit: 5 }, { $project: { _id: 0, userId: 1, orders: 1, units: 1 } }],
    ({ ledger }) =>
      buyers(ledger)
        .sort((a, b) => b.orders - a.orders || byCodeUnits(a.id, b.id))
        .slice(0, 5)
        .map(({ userId, orders, units }) => ({ userId, orders, units })),
  ],
  [
    'paid revenue per shard',
    'orders',
    [{ $match: { status: 'paid' } }, { $group: { _id: '$shard', revenue: { $sum: '$amount' } } }, { $sort: { _id: 1 } }],
    ({ ledger }) => {
      const revenue = new Map<number, number>();
      for (const o of ledger) if (o.fate === 'paid') revenue.set(o.shard, (revenue.get(o.shard) ?? 0) + o.amount);
      return [...revenue.entries()].sort(([a], [b]) => a - b).map(([shard, total]) => ({ _id: shard, revenue: total }));
    },
  ],
  [
    'busiest seconds',
    'sale_timeline',
    [{ $sort: { reserved: -1, t: 1 } }, { $limit: 3 }, { $project: { _id: 0, t: 1, reserved: 1, paid: 1 } }],
    ({ ledger }) =>
      [...seconds(ledger).entries()]
        .sort(([ta, a], [tb, b]) => b.reserved - a.reserved || ta - tb)
        .slice(0, 3)
        .map(([t, { reserved, paid }]) => ({ t, reserved, paid })),
  ],
  [
    'orders that changed status twice',
    'orders',
    [{ $match: { 'history.2': { $exists: true } } }, { $count: 'n' }],
    ({ ledger }) => [{ n: ledger.filter((o) => statusesOf(o).length >= 3).length }],
  ],
  [
    'summary',
    'sale_summary',
    [{ $project: { _id: 1, orders: 1, paid: 1, expired: 1, cancelled: 1, refundPending: 1, available: 1, uniqueBuyers: 1 } }],
    ({ ledger }) => {
      const fates = tally(ledger.map((o) => o.fate));
      const released = ledger.filter((o) => o.fate === 'expired' || o.fate === 'cancelled' || o.fate === 'refund_pending').reduce((n, o) => n + o.quantity, 0);
      const taken = ledger.reduce((n, o) => n + o.quantity, 0);
      return [
        {
          _id: SALE_ID,
          orders: ledger.length,
          paid: fates.get('paid') ?? 0,
          expired: fates.get('expired') ?? 0,
          cancelled: fates.get('cancelled') ?? 0,
          refundPending: fates.get('refund_pending') ?? 0,
          available: STOCK - taken + released,
          uniqueBuyers: new Set(ledger.map((o) => o.userId)).size,
        },
      ];
    },
  ],
  [
    'refund reasons',
    'orders',
    [{ $unwind: '$refunds' }, { $sortByCount: '$refunds.reason' }],
    ({ ledger }) => [{ _id: 'order_expired', count: ledger.filter((o) => o.refundRequestedAt !== undefined).length }],
  ],
];

function expectedSummary({ ledger }: Fixture, position: number): SaleSummary {
  const fates = tally(ledger.map((o) => o.fate));
  const released = ledger.filter((o) => o.fate !== 'paid' && o.fate !== 'reserved').reduce((n, o) => n + o.quantity, 0);
  return {
    saleId: SALE_ID,
    totalStock: STOCK,
    reserved: fates.get('reserved') ?? 0,
    placed: 0,
    paid: fates.get('paid') ?? 0,
    expired: fates.get('expired') ?? 0,
    cancelled: fates.get('cancelled') ?? 0,
    refundPending: fates.get('refund_pending') ?? 0,
    orders: ledger.length,
    available: STOCK - ledger.reduce((n, o) => n + o.quantity, 0) + released,
    uniqueBuyers: new Set(ledger.map((o) => o.userId)).size,
    revenue: ledger.filter((o) => o.fate === 'paid').reduce((n, o) => n + o.amount, 0),
    rejections: {},
    projectionPosition: position,
  };
}

function expectedTimeline({ ledger }: Fixture, widthMs: number): TimelineRow[] {
  const rows = new Map<number, { reserved: number; paid: number; expired: number; cancelled: number; rejected: number }>();
  for (const [second, counts] of seconds(ledger)) {
    const t = Math.floor(second / widthMs) * widthMs;
    const row = rows.get(t) ?? { reserved: 0, paid: 0, expired: 0, cancelled: 0, rejected: 0 };
    row.reserved += counts.reserved;
    row.paid += counts.paid;
    row.expired += counts.expired;
    row.cancelled += counts.cancelled;
    rows.set(t, row);
  }
  return [...rows.entries()].sort(([a], [b]) => a - b).map(([t, counts]) => ({ t: new Date(t).toISOString(), ...counts }));
}

const SIDES = ['embedded (SQLite + mingo)', mongoSide] as const;

describe('analytics pipelines answer what the fixture implies, on each document store', () => {
  const standIn = realServerUrl ? undefined : new MongoStandIn();
  const store = new MemoryEventStore();
  const dbName = `flash_parity_${Date.now().toString(36)}`;
  let fixture: Fixture;
  let head: number;
  let embedded: DocumentStore;
  let embeddedPipelines: WorkerPipelineRunner;
  let mongo: MongoDocumentStore;
  const answers = new Map<string, AnalyticsQueries>();

  beforeAll(async () => {
    await standIn?.start();
    fixture = await appendSaleHistory(store, { saleId: SALE_ID, stock: STOCK, shards: 4, orders: 260, seed: 21 });
    head = await store.headPosition();
    // On disk, as the server keeps it: the analyst pipelines run in a worker thread that reads the file.
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'parity-')), 'read-models.sqlite');
    embedded = new SqliteDocumentStore(file);
    embeddedPipelines = new WorkerPipelineRunner({ file, workers: 1, maxWaiting: 4, maxMemoryMb: 128 });
    mongo = await MongoDocumentStore.connect(realServerUrl ?? standIn?.url ?? '', { dbName });
    const sides: ReadonlyArray<readonly [string, DocumentStore, PipelineRunner]> = [
      [SIDES[0], embedded, embeddedPipelines],
      [SIDES[1], mongo, mongo.pipelineRunner()],
    ];
    for (const [side, docs, pipelines] of sides) {
      await new ProjectionRunner(store, docs, analyticsProjection, { generation: 1, batchSize: 100, idleMs: 5, now: () => 0 }).catchUp();
      const host = new ProjectionHost(store, docs, analyticsProjection, { batchSize: 100, idleMs: 5, now: () => 0, pointerPollMs: 60_000, dropAfterMs: 60_000 });
      await host.start();
      await host.stop();
      answers.set(side, new AnalyticsQueries(docs, host, new RejectionLog(docs), pipelines, { maxRows: 1000, maxTimeMs: 10_000, maxBytes: 4 * 1024 * 1024 }));
    }
  });

  afterAll(async () => {
    for (const collection of await mongo.collections()) await mongo.drop(collection);
    await mongo.close();
    await embeddedPipelines.close();
    await embedded.close();
    await standIn?.stop();
  });

  it('the fixture has every fate, repeat buyers and refunds, so every expected answer below says something', () => {
    expect(new Set(fixture.ledger.map((o) => o.fate))).toEqual(new Set(['reserved', 'paid', 'expired', 'cancelled', 'refund_pending']));
    expect(buyers(fixture.ledger).some((b) => b.orders > 1)).toBe(true);
    for (const [name, , , expected] of PIPELINES) expect({ name, rows: expected(fixture).length > 0 }).toEqual({ name, rows: true });
  });

  describe.each(SIDES)('%s', (side) => {
    it.each(PIPELINES)('%s', async (_name, collection, pipeline, expected) => {
      const answer = await answers.get(side)?.query(collection, pipeline);
      expect(JSON.parse(answer?.json ?? 'null')).toEqual({ rows: expected(fixture), truncated: false });
    });

    it('the summary and the 10 s timeline', async () => {
      expect(await answers.get(side)?.summary(SALE_ID)).toEqual(expectedSummary(fixture, head));
      expect(await answers.get(side)?.timeline(SALE_ID, '10s')).toEqual(expectedTimeline(fixture, 10_000));
    });
  });
});
