import { DocumentStore, StoredDocument } from '../src/document-store';

const LIMITS = { maxRows: 1000, maxTimeMs: 10_000 };

const orders: StoredDocument[] = [
  { _id: 'o1', saleId: 's1', userId: 'u1', quantity: 1, status: 'paid', amount: 500, history: [{ status: 'reserved', position: 3 }] },
  { _id: 'o2', saleId: 's1', userId: 'u2', quantity: 2, status: 'expired', amount: 1000, history: [] },
  { _id: 'o3', saleId: 's1', userId: 'u1', quantity: 1, status: 'paid', amount: 500, history: [] },
  { _id: 'o4', saleId: 's2', userId: 'u3', quantity: 3, status: 'reserved', amount: 300, history: [], note: null },
];

/**
 * The contract every document store adapter keeps. The analyst pipelines at the end are the promise that the same
 * query gives the same rows embedded (mingo) and on MongoDB: both adapters must pass them unchanged.
 */
export function documentStoreContract(name: string, open: () => Promise<DocumentStore>): void {
  describe(`document store contract: ${name}`, () => {
    let store: DocumentStore;

    beforeEach(async () => {
      store = await open();
    });

    afterEach(async () => {
      await store.close();
    });

    it('reads back what it replaced, nested fields and nulls included', async () => {
      await store.replace(orders.map((doc) => ({ collection: 'orders', doc })));
      expect(await store.get('orders', 'o1')).toEqual(orders[0]);
      expect(await store.get('orders', 'o4')).toEqual(orders[3]);
      expect(await store.get('orders', 'missing')).toBeUndefined();
    });

    it('replaces whole documents: fields left out are gone', async () => {
      await store.replace([{ collection: 'orders', doc: { _id: 'o1', status: 'reserved', extra: 1 } }]);
      await store.replace([{ collection: 'orders', doc: { _id: 'o1', status: 'paid' } }]);
      expect(await store.get('orders', 'o1')).toEqual({ _id: 'o1', status: 'paid' });
    });

    it('keeps collections apart and writes several in one call', async () => {
      await store.replace([
        { collection: 'a', doc: { _id: 'x', v: 1 } },
        { collection: 'b', doc: { _id: 'x', v: 2 } },
        { collection: 'a', doc: { _id: 'y', v: 3 } },
      ]);
      expect(await store.get('a', 'x')).toEqual({ _id: 'x', v: 1 });
      expect(await store.get('b', 'x')).toEqual({ _id: 'x', v: 2 });
      expect((await store.collections()).filter((c) => c === 'a' || c === 'b').sort()).toEqual(['a', 'b']);
    });

    it('finds the documents that exist among many ids', async () => {
      await store.replace(orders.map((doc) => ({ collection: 'orders', doc })));
      const found = await store.getMany('orders', ['o3', 'nope', 'o1', 'o1']);
      expect(found.map((d) => d._id).sort()).toEqual(['o1', 'o3']);
      expect(await store.getMany('orders', [])).toEqual([]);
    });

    it('increments counters, creating the document with its insert-only fields', async () => {
      const inc = { collection: 'rejections', id: 's1:SOLD_OUT:1', inc: { count: 2 }, setOnInsert: { saleId: 's1', code: 'SOLD_OUT', t: 1000 } };
      await store.increment([inc]);
      await store.increment([inc, { collection: 'rejections', id: 's1:RATE_LIMITED:1', inc: { count: 1 } }]);
      expect(await store.get('rejections', 's1:SOLD_OUT:1')).toEqual({ _id: 's1:SOLD_OUT:1', saleId: 's1', code: 'SOLD_OUT', t: 1000, count: 4 });
      expect(await store.get('rejections', 's1:RATE_LIMITED:1')).toEqual({ _id: 's1:RATE_LIMITED:1', count: 1 });
    });

    it('drops a collection, and dropping a missing one is no error', async () => {
      await store.replace([{ collection: 'gone', doc: { _id: 'x' } }, { collection: 'kept', doc: { _id: 'y' } }]);
      await store.drop('gone');
      await store.drop('never-there');
      expect(await store.get('gone', 'x')).toBeUndefined();
      expect(await store.collections()).not.toContain('gone');
      expect(await store.get('kept', 'y')).toEqual({ _id: 'y' });
    });

    describe('analyst pipelines give the same rows in every adapter', () => {
      beforeEach(async () => {
        await store.replace(orders.map((doc) => ({ collection: 'orders', doc })));
      });

      it('$match, $group, $sort', async () => {
        const { rows, truncated } = await store.aggregate(
          'orders',
          [{ $match: { saleId: 's1' } }, { $group: { _id: '$status', orders: { $sum: 1 }, units: { $sum: '$quantity' } } }, { $sort: { _id: 1 } }],
          LIMITS,
        );
        expect(truncated).toBe(false);
        expect(rows).toEqual([
          { _id: 'expired', orders: 1, units: 2 },
          { _id: 'paid', orders: 2, units: 2 },
        ]);
      });

      it('$project with expressions, $addFields, $unwind, $count', async () => {
        const projected = await store.aggregate(
          'orders',
          [{ $match: { status: 'paid' } }, { $project: { _id: 0, userId: 1, revenue: { $multiply: ['$amount', 2] } } }, { $sort: { userId: 1, revenue: 1 } }],
          LIMITS,
        );
        expect(projected.rows).toEqual([
          { userId: 'u1', revenue: 1000 },
          { userId: 'u1', revenue: 1000 },
        ]);
        const unwound = await store.aggregate('orders', [{ $unwind: '$history' }, { $addFields: { first: '$history.status' } }, { $project: { first: 1 } }], LIMITS);
        expect(unwound.rows).toEqual([{ _id: 'o1', first: 'reserved' }]);
        const counted = await store.aggregate('orders', [{ $match: { quantity: { $gte: 2 } } }, { $count: 'big' }], LIMITS);
        expect(counted.rows).toEqual([{ big: 2 }]);
      });

      it('distinct buyers per sale with $addToSet and $size', async () => {
        const { rows } = await store.aggregate(
          'orders',
          [{ $group: { _id: '$saleId', buyers: { $addToSet: '$userId' } } }, { $project: { buyers: { $size: '$buyers' } } }, { $sort: { _id: 1 } }],
          LIMITS,
        );
        expect(rows).toEqual([
          { _id: 's1', buyers: 2 },
          { _id: 's2', buyers: 1 },
        ]);
      });

      it('caps the rows and says so', async () => {
        const capped = await store.aggregate('orders', [{ $sort: { _id: 1 } }], { maxRows: 2, maxTimeMs: 10_000 });
        expect(capped.rows.map((r) => r._id)).toEqual(['o1', 'o2']);
        expect(capped.truncated).toBe(true);
        const exact = await store.aggregate('orders', [{ $sort: { _id: 1 } }], { maxRows: 4, maxTimeMs: 10_000 });
        expect(exact.truncated).toBe(false);
        expect(exact.rows).toHaveLength(4);
      });

      it('answers an empty collection with no rows', async () => {
        expect(await store.aggregate('nothing-here', [{ $match: {} }], LIMITS)).toEqual({ rows: [], truncated: false });
      });
    });
  });
}
