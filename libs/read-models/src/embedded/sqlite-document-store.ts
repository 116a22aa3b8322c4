import Database from 'better-sqlite3';
import { Aggregator } from 'mingo';
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

/** Rows pulled from a pipeline between two looks at the clock. */
const TIME_CHECK_EVERY = 256;

/** Batches larger than this are written in (collection, _id) order. */
const SORT_ABOVE = 64;

/** Grouped by collection (few), each group in _id order: the order of the (collection, id) primary key. */
const inKeyOrder = (replacements: readonly DocumentReplacement[]): DocumentReplacement[] => {
  const groups = new Map<string, DocumentReplacement[]>();
  for (const r of replacements) {
    const group = groups.get(r.collection);
    if (group) group.push(r);
    else groups.set(r.collection, [r]);
  }
  const ordered: DocumentReplacement[] = [];
  for (const collection of [...groups.keys()].sort()) {
    const group = groups.get(collection) ?? [];
    // The ids once, in an array of strings: comparing through `doc._id` reads documents of many shapes.
    const ids = group.map((r) => r.doc._id);
    let sorted = true;
    for (let i = 1; i < ids.length && sorted; i++) sorted = (ids[i - 1] as string) <= (ids[i] as string);
    if (sorted) {
      for (const r of group) ordered.push(r);
      continue;
    }
    const order = ids.map((_, i) => i).sort((a, b) => {
      const x = ids[a] as string;
      const y = ids[b] as string;
      return x < y ? -1 : x > y ? 1 : 0;
    });
    for (const i of order) ordered.push(group[i] as DocumentReplacement);
  }
  return ordered;
};

/**
 * The embedded twin of the MongoDB read models: the same documents, kept as JSON in SQLite, and the server's own
 * pipelines evaluated in process with mingo (analysts' run in worker threads reading the same file:
 * worker-pipeline-runner.ts). Every `replace` is one transaction, so a checkpoint written with its documents
 * is never ahead of or behind them. Read models can be rebuilt from the log, so NORMAL durability is enough.
 */
export class SqliteDocumentStore implements DocumentStore {
  private readonly db: Database.Database;
  private readonly selectOne: Database.Statement<[string, string], { body: string }>;
  private readonly selectAll: Database.Statement<[string], { body: string }>;
  private readonly upsert: Database.Statement<[string, string, string]>;
  private readonly deleteCollection: Database.Statement<[string]>;
  private readonly listCollections: Database.Statement<[], { collection: string }>;

  /** `file` is a path, or ':memory:' for tests and the in-memory mode. */
  constructor(file: string) {
    this.db = new Database(file);
    // First: a rebuild from the projections CLI, or the worker (WORKER=external), opens and writes the same file.
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec('CREATE TABLE IF NOT EXISTS documents (collection TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (collection, id)) WITHOUT ROWID');
    this.selectOne = this.db.prepare('SELECT body FROM documents WHERE collection = ? AND id = ?');
    this.selectAll = this.db.prepare('SELECT body FROM documents WHERE collection = ? ORDER BY id');
    this.upsert = this.db.prepare('INSERT INTO documents (collection, id, body) VALUES (?, ?, ?) ON CONFLICT (collection, id) DO UPDATE SET body = excluded.body');
    this.deleteCollection = this.db.prepare('DELETE FROM documents WHERE collection = ?');
    this.listCollections = this.db.prepare('SELECT DISTINCT collection FROM documents ORDER BY collection');
  }

  async ensureIndexes(_collection: string, _indexes: readonly IndexSpec[]): Promise<void> {
    // Lookups are by primary key and pipelines scan: nothing to create.
  }

  async replace(replacements: readonly DocumentReplacement[]): Promise<void> {
    // One transaction: the order inside it changes nothing anyone can see. In key order, a large batch (a rebuild)
    // walks the B-tree once instead of jumping to a random leaf per document.
    const ordered = replacements.length > SORT_ABOVE ? inKeyOrder(replacements) : replacements;
    this.db.transaction(() => {
      for (const { collection, doc } of ordered) this.upsert.run(collection, doc._id, JSON.stringify(doc));
    })();
  }

  async increment(increments: readonly DocumentIncrement[]): Promise<void> {
    this.db.transaction(() => {
      for (const { collection, id, inc, setOnInsert } of increments) {
        const current = this.read(collection, id);
        // As on MongoDB: an insert-only field that is also incremented starts from 0, and `_id` is the id given.
        const inserted = Object.fromEntries(Object.entries(setOnInsert ?? {}).filter(([field]) => field !== '_id' && !(field in inc)));
        const next: Record<string, unknown> = current ? { ...current } : { ...inserted, _id: id };
        for (const [field, by] of Object.entries(inc)) next[field] = (typeof next[field] === 'number' ? next[field] : 0) + by;
        this.upsert.run(collection, id, JSON.stringify(next));
      }
    })();
  }

  async get(collection: string, id: string): Promise<StoredDocument | undefined> {
    return this.read(collection, id);
  }

  async getMany(collection: string, ids: readonly string[]): Promise<StoredDocument[]> {
    const found: StoredDocument[] = [];
    for (const id of new Set(ids)) {
      const doc = this.read(collection, id);
      if (doc) found.push(doc);
    }
    return found;
  }

  async aggregate(collection: string, pipeline: readonly PipelineStage[], limits: AggregateLimits): Promise<AggregateResult> {
    const deadline = Date.now() + limits.maxTimeMs;
    const docs = this.selectAll.all(collection).map((row) => JSON.parse(row.body) as StoredDocument);
    if (Date.now() > deadline) throw new QueryTimeLimitExceeded(limits.maxTimeMs);
    // Blocking stages ($group, $sort) run inside the first pull; the clock is looked at between rows after that.
    const rows = new Aggregator(pipeline as Record<string, unknown>[]).stream(docs);
    const out: StoredDocument[] = [];
    for (let next = rows.next(); !next.done; next = rows.next()) {
      if (out.length === limits.maxRows) return { rows: out, truncated: true };
      out.push(next.value as StoredDocument);
      if (out.length % TIME_CHECK_EVERY === 0 && Date.now() > deadline) throw new QueryTimeLimitExceeded(limits.maxTimeMs);
    }
    if (Date.now() > deadline) throw new QueryTimeLimitExceeded(limits.maxTimeMs);
    return { rows: out, truncated: false };
  }

  async drop(collection: string): Promise<void> {
    this.deleteCollection.run(collection);
  }

  async collections(): Promise<string[]> {
    return this.listCollections.all().map((row) => row.collection);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private read(collection: string, id: string): StoredDocument | undefined {
    const row = this.selectOne.get(collection, id);
    return row ? (JSON.parse(row.body) as StoredDocument) : undefined;
  }
}
