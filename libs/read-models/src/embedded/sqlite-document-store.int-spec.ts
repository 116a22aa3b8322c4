import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { documentStoreContract } from '../../test/document-store.contract';
import { QueryTimeLimitExceeded } from '../document-store';
import { SqliteDocumentStore } from './sqlite-document-store';

documentStoreContract('SQLite (embedded, in memory)', async () => new SqliteDocumentStore(':memory:'));

documentStoreContract('SQLite (embedded, on disk)', async () => new SqliteDocumentStore(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'docs-')), 'read-models.sqlite')));

describe('SqliteDocumentStore', () => {
  it('keeps documents across a reopen of the same file', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'docs-')), 'read-models.sqlite');
    const first = new SqliteDocumentStore(file);
    await first.replace([{ collection: 'orders', doc: { _id: 'o1', status: 'paid' } }]);
    await first.close();
    const second = new SqliteDocumentStore(file);
    expect(await second.get('orders', 'o1')).toEqual({ _id: 'o1', status: 'paid' });
    await second.close();
  });

  it('abandons a query that runs past its time limit', async () => {
    const store = new SqliteDocumentStore(':memory:');
    await store.replace(Array.from({ length: 3000 }, (_, i) => ({ collection: 'big', doc: { _id: String(i).padStart(5, '0'), n: i } })));
    const slow = [{ $addFields: { spin: { $reduce: { input: { $range: [0, 2000] }, initialValue: 0, in: { $add: ['$$value', '$$this'] } } } } }];
    await expect(store.aggregate('big', slow, { maxRows: 10_000, maxTimeMs: 1 })).rejects.toBeInstanceOf(QueryTimeLimitExceeded);
    await store.close();
  });
});
