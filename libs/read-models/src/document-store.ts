/**
 * The document store port: where read models live. Adapters: MongoDB (`mongodb` driver, selected by MONGO_URL) and
 * the embedded SQLite twin (documents as JSON, the server's own pipelines evaluated in process with mingo; analysts'
 * pipelines go through the PipelineRunner port instead, off the event loop). One contract suite
 * (../test/document-store.contract.ts) runs against both, so the same pipeline gives the same rows in either mode.
 */
export interface StoredDocument {
  readonly _id: string;
  readonly [field: string]: unknown;
}

/** A whole document written as given (inserted, or replacing the one with the same `_id`). */
export interface DocumentReplacement {
  readonly collection: string;
  readonly doc: StoredDocument;
}

/** Adds to numeric fields of one document, creating it with `setOnInsert` (and the increments) when absent. */
export interface DocumentIncrement {
  readonly collection: string;
  readonly id: string;
  readonly inc: Readonly<Record<string, number>>;
  readonly setOnInsert?: Readonly<Record<string, unknown>>;
}

export interface IndexSpec {
  readonly name: string;
  readonly keys: Readonly<Record<string, 1 | -1>>;
}

export type PipelineStage = Readonly<Record<string, unknown>>;

export interface AggregateLimits {
  /** At most this many rows come back; `truncated` says whether more were there. */
  readonly maxRows: number;
  /** The query is abandoned with QueryTimeLimitExceeded past this. */
  readonly maxTimeMs: number;
}

/** A pipeline's output row: `_id` may be anything a `$group` made of it, or gone after a `$project`. */
export type ResultRow = Readonly<Record<string, unknown>>;

export interface AggregateResult {
  readonly rows: ResultRow[];
  readonly truncated: boolean;
}

export interface DocumentStore {
  /** Creates the indexes if missing (a no-op where the adapter scans). */
  ensureIndexes(collection: string, indexes: readonly IndexSpec[]): Promise<void>;
  /**
   * Writes whole documents: in one transaction where the store has them, else collection by collection in the order
   * the collections first appear (so a checkpoint document placed last is written last).
   */
  replace(replacements: readonly DocumentReplacement[]): Promise<void>;
  increment(increments: readonly DocumentIncrement[]): Promise<void>;
  get(collection: string, id: string): Promise<StoredDocument | undefined>;
  /** The documents that exist among `ids`, in no particular order. */
  getMany(collection: string, ids: readonly string[]): Promise<StoredDocument[]>;
  /**
   * Runs one of the server's own read-only pipelines (a sale's timeline, its rejections). An analyst's pipeline is not
   * for this: it goes through a PipelineRunner, under hard limits and never on the event loop.
   */
  aggregate(collection: string, pipeline: readonly PipelineStage[], limits: AggregateLimits): Promise<AggregateResult>;
  /** Removes a collection and its documents; dropping a missing collection is not an error. */
  drop(collection: string): Promise<void>;
  /** Names of the collections that hold at least one document. */
  collections(): Promise<string[]>;
  close(): Promise<void>;
}

export class QueryTimeLimitExceeded extends Error {
  constructor(readonly maxTimeMs: number) {
    super(`the query ran longer than ${String(maxTimeMs)} ms`);
    this.name = 'QueryTimeLimitExceeded';
  }
}
