import type { AnyBulkWriteOperation, Collection, Db, MongoClient } from 'mongodb';
import {
  AggregateLimits,
  AggregateResult,
  DocumentIncrement,
  DocumentReplacement,
  DocumentStore,
  IndexSpec,
  PipelineStage,
  QueryTimeLimitExceeded,
  StoredDocument,
} from '../document-store';
import { PipelineRunner } from '../pipeline-runner';
import { MAX_TIME_MS_EXPIRED, NAMESPACE_NOT_FOUND, serverErrorCode } from './mongo-errors';
import { MongoPipelineRunner } from './mongo-pipeline-runner';

/** What the driver's generics see: string ids (never ObjectId), any other fields. */
interface MongoDocument {
  _id: string;
  [field: string]: unknown;
}

const DEFAULT_DB_NAME = 'flash_sale';

/**
 * The document store on MongoDB through the `mongodb` driver. No transactions (a standalone server has none):
 * writes go collection by collection, in the order the collections first appear, each as one ordered bulk write.
 */
export class MongoDocumentStore implements DocumentStore {
  private constructor(
    private readonly client: MongoClient,
    private readonly db: Db,
  ) {}

  /** Database: `options.dbName`, else the URL's path, else `flash_sale`. */
  static async connect(url: string, options: { dbName?: string } = {}): Promise<MongoDocumentStore> {
    // Loaded here, not at import: the embedded default never pays for the driver at start.
    const { MongoClient: Client } = await import('mongodb');
    const client = new Client(url, { serverSelectionTimeoutMS: 5000 });
    try {
      await client.connect();
    } catch (error) {
      await client.close().catch(() => undefined); // no monitors left behind to keep the process alive
      throw error;
    }
    return new MongoDocumentStore(client, client.db(options.dbName ?? databaseInUrl(url) ?? DEFAULT_DB_NAME));
  }

  async ensureIndexes(collection: string, indexes: readonly IndexSpec[]): Promise<void> {
    if (indexes.length === 0) return; // the server refuses an empty createIndexes
    await this.collection(collection).createIndexes(indexes.map((index) => ({ name: index.name, key: { ...index.keys } })));
  }

  async replace(replacements: readonly DocumentReplacement[]): Promise<void> {
    for (const [collection, batch] of groupByCollection(replacements)) {
      const operations: AnyBulkWriteOperation<MongoDocument>[] = batch.map(({ doc }) => ({
        replaceOne: { filter: { _id: doc._id }, replacement: { ...doc }, upsert: true },
      }));
      await this.collection(collection).bulkWrite(operations, { ordered: true });
    }
  }

  async increment(increments: readonly DocumentIncrement[]): Promise<void> {
    for (const [collection, batch] of groupByCollection(increments)) {
      const operations: AnyBulkWriteOperation<MongoDocument>[] = batch.map((increment) => ({
        updateOne: { filter: { _id: increment.id }, update: incrementUpdate(increment), upsert: true },
      }));
      await this.collection(collection).bulkWrite(operations, { ordered: true });
    }
  }

  async get(collection: string, id: string): Promise<StoredDocument | undefined> {
    return (await this.collection(collection).findOne({ _id: id })) ?? undefined;
  }

  async getMany(collection: string, ids: readonly string[]): Promise<StoredDocument[]> {
    if (ids.length === 0) return [];
    return this.collection(collection)
      .find({ _id: { $in: [...new Set(ids)] } })
      .toArray();
  }

  async aggregate(collection: string, pipeline: readonly PipelineStage[], limits: AggregateLimits): Promise<AggregateResult> {
    // One row past the cap tells whether there were more, without counting them all.
    const bounded = [...pipeline, { $limit: limits.maxRows + 1 }];
    try {
      const rows = await this.collection(collection)
        .aggregate<StoredDocument>(bounded, { maxTimeMS: limits.maxTimeMs, batchSize: limits.maxRows + 1 })
        .toArray();
      return { rows: rows.slice(0, limits.maxRows), truncated: rows.length > limits.maxRows };
    } catch (error) {
      if (serverErrorCode(error) === MAX_TIME_MS_EXPIRED) throw new QueryTimeLimitExceeded(limits.maxTimeMs);
      throw error;
    }
  }

  async drop(collection: string): Promise<void> {
    try {
      await this.collection(collection).drop();
    } catch (error) {
      // Recent drivers already swallow this; older ones and some servers do not.
      if (serverErrorCode(error) !== NAMESPACE_NOT_FOUND) throw error;
    }
  }

  async collections(): Promise<string[]> {
    const listed = await this.db.listCollections({}, { nameOnly: true }).toArray();
    const names = listed.map((info) => info.name).filter((name) => !name.startsWith('system.'));
    const nonEmpty = await Promise.all(
      names.map(async (name) => ((await this.collection(name).countDocuments({}, { limit: 1 })) > 0 ? name : undefined)),
    );
    return nonEmpty.filter((name): name is string => name !== undefined);
  }

  /** Analyst pipelines on the same database (and connection pool); closing the store ends them too. */
  pipelineRunner(): PipelineRunner {
    return new MongoPipelineRunner(this.db);
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private collection(name: string): Collection<MongoDocument> {
    return this.db.collection<MongoDocument>(name);
  }
}

/** Batches per collection, collections in the order they first appear, items in their given order. */
function groupByCollection<T extends { readonly collection: string }>(items: readonly T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const group = groups.get(item.collection);
    if (group) group.push(item);
    else groups.set(item.collection, [item]);
  }
  return groups;
}

/**
 * `$inc` plus `$setOnInsert`. MongoDB refuses an update naming one path in both (or a path and its parent), so an
 * insert-only field that is also incremented is left to `$inc` (it starts from 0); `_id` comes from the filter.
 */
function incrementUpdate({ inc, setOnInsert = {} }: DocumentIncrement): Record<string, Record<string, unknown>> {
  const incremented = Object.keys(inc);
  const overlaps = (field: string): boolean =>
    incremented.some((path) => path === field || path.startsWith(`${field}.`) || field.startsWith(`${path}.`));
  const insertOnly = Object.fromEntries(Object.entries(setOnInsert).filter(([field]) => field !== '_id' && !overlaps(field)));
  const update: Record<string, Record<string, unknown>> = {};
  if (incremented.length > 0) update.$inc = { ...inc };
  // An empty operator is accepted since MongoDB 5.0; it keeps an all-empty increment an upsert of a bare document.
  if (Object.keys(insertOnly).length > 0 || incremented.length === 0) update.$setOnInsert = insertOnly;
  return update;
}

/** The database named in a connection string's path (`mongodb://host/db?opts`), if any. */
function databaseInUrl(url: string): string | undefined {
  const afterScheme = url.slice(url.indexOf('://') + 3);
  const slash = afterScheme.indexOf('/');
  if (slash < 0) return undefined;
  const path = afterScheme.slice(slash + 1).split('?')[0] ?? '';
  return path === '' ? undefined : decodeURIComponent(path);
}
