import { MongoClient } from 'mongodb';
import { MongoStandIn } from '../../../../test/support/mongo-standin';
import { documentStoreContract } from '../../test/document-store.contract';
import { pipelineRunnerContract } from '../../test/pipeline-runner.contract';
import { DocumentStore, QueryTimeLimitExceeded } from '../document-store';
import { MongoDocumentStore } from './mongo-document-store';

/**
 * With MONGO_URL set these run against that server (each store in a database of its own, dropped afterwards);
 * without it, against the test-only wire stand-in (test/support/mongo-standin.ts), which is NOT MongoDB.
 */
const realServerUrl = process.env.MONGO_URL;
const target = realServerUrl ? `against MONGO_URL (${redact(realServerUrl)})` : 'against the test-only wire stand-in';

describe(`MongoDocumentStore ${target}`, () => {
  const standIn = realServerUrl ? undefined : new MongoStandIn();
  let url = '';
  let inspector: MongoClient; // a plain driver client, to look at what the adapter wrote
  const databasesUsed = new Set<string>();
  const runId = `${process.pid.toString(36)}${Date.now().toString(36)}`;
  let opened = 0;
  const freshDbName = (): string => {
    const name = `flash_test_${runId}_${++opened}`;
    databasesUsed.add(name);
    return name;
  };
  const open = (): Promise<MongoDocumentStore> => MongoDocumentStore.connect(url, { dbName: freshDbName() });

  beforeAll(async () => {
    await standIn?.start();
    url = realServerUrl ?? standIn!.url;
    inspector = await new MongoClient(url, { serverSelectionTimeoutMS: 5000 }).connect();
  });

  afterAll(async () => {
    for (const name of databasesUsed) await inspector.db(name).dropDatabase();
    await inspector.close();
    await standIn?.stop();
  });

  documentStoreContract(`MongoDocumentStore ${target}`, open);

  pipelineRunnerContract(`MongoPipelineRunner ${target}`, async () => {
    const store = await open();
    return {
      docs: store,
      runner: store.pipelineRunner(),
      slow: async (maxTimeMs) => {
        if (standIn) {
          // The stand-in evaluates pipelines in this process: it is made to wait instead, and answers code 50 as the server does.
          standIn.aggregateDelayMs = maxTimeMs + 100;
          return { pipeline: [{ $match: {} }], undo: () => (standIn.aggregateDelayMs = 0) };
        }
        // Tens of millions of rows from two nested ranges: far more than maxTimeMs on any server.
        return { pipeline: [{ $project: { a: { $range: [0, 10_000] } } }, { $unwind: '$a' }, { $project: { b: { $range: [0, 3000] } } }, { $unwind: '$b' }, { $group: { _id: null, n: { $sum: 1 } } }] };
      },
      close: () => store.close(),
    };
  });

  describe('adapter specifics', () => {
    let store: DocumentStore;
    let dbName: string;

    beforeEach(async () => {
      dbName = freshDbName();
      store = await MongoDocumentStore.connect(url, { dbName });
    });

    afterEach(async () => {
      await store.close();
    });

    const raw = (collection: string) => inspector.db(dbName).collection<{ _id: string; [field: string]: unknown }>(collection);

    it('writes collection by collection in order of first appearance, stopping at the first that fails', async () => {
      const refused = { $inc: { n: 1 }, _id: 'bad' }; // looks like update operators: no replacement document
      await expect(
        store.replace([
          { collection: 'first', doc: { _id: '1' } },
          { collection: 'second', doc: refused },
          { collection: 'first', doc: { _id: '2' } },
          { collection: 'third', doc: { _id: '3' } },
        ]),
      ).rejects.toThrow();
      expect((await raw('first').find().toArray()).map((d) => d._id).sort()).toEqual(['1', '2']);
      expect(await raw('second').countDocuments()).toBe(0);
      expect(await raw('third').countDocuments()).toBe(0);
    });

    it('sums several increments of one document in one call, across collections', async () => {
      await store.increment([
        { collection: 'buckets', id: 's1:1', inc: { orders: 1, units: 2 }, setOnInsert: { saleId: 's1' } },
        { collection: 'totals', id: 's1', inc: { units: 2 } },
        { collection: 'buckets', id: 's1:1', inc: { orders: 1, units: 3 }, setOnInsert: { saleId: 'not written twice' } },
      ]);
      expect(await store.get('buckets', 's1:1')).toEqual({ _id: 's1:1', saleId: 's1', orders: 2, units: 5 });
      expect(await store.get('totals', 's1')).toEqual({ _id: 's1', units: 2 });
    });

    it('leaves an insert-only field that is also incremented (and _id) to the increment, which MongoDB requires', async () => {
      await store.increment([{ collection: 'c', id: 'x', inc: { n: 2, 'nested.m': 1 }, setOnInsert: { _id: 'other', n: 100, nested: { m: 5 }, label: 'L' } }]);
      expect(await store.get('c', 'x')).toEqual({ _id: 'x', n: 2, nested: { m: 1 }, label: 'L' });
      await store.increment([{ collection: 'c', id: 'bare', inc: {} }]);
      expect(await store.get('c', 'bare')).toEqual({ _id: 'bare' });
    });

    it('reads many ids, more than one cursor batch', async () => {
      const ids = Array.from({ length: 250 }, (_, i) => `id-${String(i).padStart(3, '0')}`);
      await store.replace(ids.map((id, i) => ({ collection: 'many', doc: { _id: id, i } })));
      const found = await store.getMany('many', [...ids, 'missing']);
      expect(found.map((d) => d._id).sort()).toEqual(ids);
    });

    it('creates indexes once, by name, and ignores an empty list', async () => {
      await store.ensureIndexes('orders', []);
      await store.ensureIndexes('orders', [
        { name: 'by_sale_status', keys: { saleId: 1, status: 1 } },
        { name: 'by_time', keys: { t: -1 } },
      ]);
      await store.ensureIndexes('orders', [{ name: 'by_time', keys: { t: -1 } }]);
      const indexes = await raw('orders').listIndexes().toArray();
      expect(indexes.map((index) => [index.name, index.key]).sort()).toEqual([
        ['_id_', { _id: 1 }],
        ['by_sale_status', { saleId: 1, status: 1 }],
        ['by_time', { t: -1 }],
      ]);
    });

    it('lists only collections that hold documents', async () => {
      await store.ensureIndexes('indexed_but_empty', [{ name: 'by_t', keys: { t: 1 } }]);
      await store.replace([{ collection: 'filled', doc: { _id: 'a' } }]);
      expect(await store.collections()).toEqual(['filled']);
    });

    it('turns an aggregate past its time limit into QueryTimeLimitExceeded', async () => {
      await store.replace([{ collection: 'slow', doc: { _id: 'a' } }]);
      let pipeline: Record<string, unknown>[] = [{ $match: {} }];
      if (standIn) standIn.aggregateDelayMs = 500;
      else {
        // Millions of rows from two nested ranges: far more than 5 ms on any server.
        pipeline = [
          { $project: { a: { $range: [0, 3000] } } },
          { $unwind: '$a' },
          { $project: { b: { $range: [0, 3000] } } },
          { $unwind: '$b' },
          { $group: { _id: null, n: { $sum: 1 } } },
        ];
      }
      try {
        const error: unknown = await store.aggregate('slow', pipeline, { maxRows: 10, maxTimeMs: 5 }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(QueryTimeLimitExceeded);
        expect(error).toMatchObject({ maxTimeMs: 5 });
      } finally {
        if (standIn) standIn.aggregateDelayMs = 0;
      }
    });

    it('passes other server errors through unchanged', async () => {
      await store.replace([{ collection: 'x', doc: { _id: 'a' } }]);
      await expect(store.aggregate('x', [{ $noSuchStage: {} }], { maxRows: 10, maxTimeMs: 5000 })).rejects.not.toBeInstanceOf(QueryTimeLimitExceeded);
    });

    it('returns exactly maxRows untruncated when that is all there is, even past one cursor batch', async () => {
      await store.replace(Array.from({ length: 150 }, (_, i) => ({ collection: 'rows', doc: { _id: String(i).padStart(3, '0') } })));
      const all = await store.aggregate('rows', [{ $sort: { _id: 1 } }], { maxRows: 150, maxTimeMs: 5000 });
      expect({ n: all.rows.length, truncated: all.truncated }).toEqual({ n: 150, truncated: false });
      const capped = await store.aggregate('rows', [{ $sort: { _id: 1 } }], { maxRows: 149, maxTimeMs: 5000 });
      expect({ n: capped.rows.length, last: capped.rows.at(-1)?._id, truncated: capped.truncated }).toEqual({ n: 149, last: '148', truncated: true });
    });
  });

  describe('choosing the database', () => {
    const hasCredentials = realServerUrl !== undefined && /\/\/[^/]*@/.test(realServerUrl);
    // Changing the path of a URL with credentials would change its auth database too.
    const itWithoutCredentials = hasCredentials ? it.skip : it;

    itWithoutCredentials('takes options.dbName, else the database in the URL, else flash_sale', async () => {
      const fromUrl = freshDbName();
      const collection = `where_${runId}`; // unique, because the default database may be shared
      const cases: [string, { dbName?: string }, string][] = [
        [withPath(url, fromUrl), { dbName: freshDbName() }, [...databasesUsed].at(-1)!],
        [withPath(url, fromUrl), {}, fromUrl],
        [withPath(url, ''), {}, 'flash_sale'],
      ];
      for (const [connectUrl, options, expectedDb] of cases) {
        const store = await MongoDocumentStore.connect(connectUrl, options);
        try {
          await store.replace([{ collection, doc: { _id: 'probe' } }]);
          expect(await inspector.db(expectedDb).collection(collection).countDocuments()).toBe(1);
        } finally {
          await store.drop(collection);
          await store.close();
        }
      }
    });
  });
});

/** The URL with its path (database) replaced, query string kept. */
function withPath(url: string, path: string): string {
  const [base = '', query] = url.split('?');
  const hostsEnd = base.indexOf('/', base.indexOf('://') + 3);
  const hosts = hostsEnd < 0 ? base : base.slice(0, hostsEnd);
  return `${hosts}/${path}${query === undefined ? '' : `?${query}`}`;
}

function redact(url: string): string {
  return url.replace(/\/\/[^/@]*@/, '//***@');
}
