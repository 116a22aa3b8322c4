import Database from 'better-sqlite3';
import { assertAppendable, recognisedRetry, StoredEventRef } from '../append-retry';
import { AppendSignal, catchUpSubscription } from '../catch-up-subscription';
import {
  AppendResult,
  DuplicateEventId,
  EventData,
  EventStore,
  ExpectedRevision,
  NO_STREAM,
  ReadAllOptions,
  RecordedEvent,
  Subscription,
  WrongExpectedRevision,
} from '../event-store.port';

export type SqliteSynchronous = 'FULL' | 'NORMAL' | 'OFF';

export interface SqliteEventStoreOptions {
  /** Database file, or ':memory:'. */
  readonly file: string;
  /** FULL (default) fsyncs every commit: an acknowledged append survives SIGKILL and power loss. */
  readonly synchronous?: SqliteSynchronous;
  /** Open an existing store read-only (the audit CLI beside a running server). */
  readonly readonly?: boolean;
  /** How often a subscriber looks for appends made by another process. */
  readonly pollMs?: number;
  /** Commit the appends requested within one event-loop turn in one transaction (one fsync). Default true. */
  readonly coalesceAppends?: boolean;
  readonly now?: () => number;
}

interface Row {
  position: number;
  stream_id: string;
  revision: number;
  event_id: string;
  type: string;
  data: string;
  metadata: string;
  recorded_at: number;
}

interface PendingAppend {
  readonly streamId: string;
  readonly events: readonly EventData[];
  readonly expected: ExpectedRevision;
  readonly resolve: (r: AppendResult) => void;
  readonly reject: (e: unknown) => void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  position    INTEGER PRIMARY KEY AUTOINCREMENT,
  stream_id   TEXT    NOT NULL,
  revision    INTEGER NOT NULL,
  event_id    TEXT    NOT NULL UNIQUE,
  type        TEXT    NOT NULL,
  data        TEXT    NOT NULL,
  metadata    TEXT    NOT NULL,
  recorded_at INTEGER NOT NULL,
  UNIQUE (stream_id, revision)
);`;

const toRecorded = (r: Row): RecordedEvent => ({
  eventId: r.event_id,
  type: r.type,
  data: JSON.parse(r.data) as Record<string, unknown>,
  metadata: JSON.parse(r.metadata) as RecordedEvent['metadata'],
  streamId: r.stream_id,
  revision: r.revision,
  position: r.position,
  recordedAt: r.recorded_at,
});

const isUniqueViolation = (e: unknown): boolean => (e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE';

/**
 * The embedded event store. One SQLite file in WAL mode gives one total order of positions (writers are
 * serialised by SQLite's write lock, so a reader never sees position n+1 before n). Appends that arrive in the
 * same event-loop turn share one transaction: each keeps its own optimistic-concurrency check and outcome,
 * and together they cost one fsync.
 */
export class SqliteEventStore implements EventStore {
  private readonly db: Database.Database;
  private readonly appended = new AppendSignal();
  private readonly pollMs: number;
  private readonly coalesce: boolean;
  private readonly now: () => number;
  private pending: PendingAppend[] = [];
  private flushScheduled = false;
  private closed = false;
  private readonly subscriptions = new Set<Subscription>();

  private readonly stmt: {
    currentRevision: Database.Statement<[string], { revision: number }>;
    findEvent: Database.Statement<[string], StoredEventRef>;
    insert: Database.Statement<[string, number, string, string, string, string, number]>;
    readStream: Database.Statement<[string, number], Row>;
    readAll: Database.Statement<[number, number], Row>;
    head: Database.Statement<[], { head: number | null }>;
  };
  private readonly appendOne: (a: PendingAppend) => AppendResult;
  private readonly appendBatch: Database.Transaction<(batch: readonly PendingAppend[]) => Array<{ ok: AppendResult } | { error: unknown }>>;

  constructor(options: SqliteEventStoreOptions) {
    this.pollMs = options.pollMs ?? 100;
    this.coalesce = options.coalesceAppends ?? true;
    this.now = options.now ?? Date.now;
    this.db = new Database(options.file, options.readonly ? { readonly: true, fileMustExist: true } : {});
    if (!options.readonly) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
      this.db.exec(SCHEMA);
    }
    this.db.pragma('busy_timeout = 5000');

    this.stmt = {
      currentRevision: this.db.prepare('SELECT revision FROM events WHERE stream_id = ? ORDER BY revision DESC LIMIT 1'),
      findEvent: this.db.prepare('SELECT stream_id AS streamId, revision, position FROM events WHERE event_id = ?'),
      insert: options.readonly
        ? (undefined as never)
        : this.db.prepare('INSERT INTO events (stream_id, revision, event_id, type, data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      readStream: this.db.prepare('SELECT * FROM events WHERE stream_id = ? AND revision >= ? ORDER BY revision'),
      readAll: this.db.prepare('SELECT * FROM events WHERE position > ? ORDER BY position LIMIT ?'),
      head: this.db.prepare('SELECT max(position) AS head FROM events'),
    };

    // Nested better-sqlite3 transactions are savepoints: one failed append rolls back only itself.
    this.appendOne = this.db.transaction((a: PendingAppend) => this.write(a));
    this.appendBatch = this.db.transaction((batch: readonly PendingAppend[]) =>
      batch.map((a) => {
        try {
          return { ok: this.appendOne(a) };
        } catch (error) {
          return { error };
        }
      }),
    );
  }

  append(streamId: string, events: readonly EventData[], expected: ExpectedRevision): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new Error('event store is closed'));
    return new Promise((resolve, reject) => {
      assertAppendable(events); // thrown inside the executor: a rejected promise, never a synchronous throw
      this.pending.push({ streamId, events, expected, resolve, reject });
      if (!this.coalesce) return this.flush();
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private write({ streamId, events, expected }: PendingAppend): AppendResult {
    const row = this.stmt.currentRevision.get(streamId);
    const current = row === undefined ? NO_STREAM : row.revision;
    const retry = recognisedRetry(streamId, events, expected, current, (id) => this.stmt.findEvent.get(id));
    if (retry) return retry;
    if (expected !== current) throw new WrongExpectedRevision(streamId, expected, current);

    const recordedAt = this.now();
    let revision = current === NO_STREAM ? 0 : current + 1;
    let position = 0;
    for (const e of events) {
      try {
        const info = this.stmt.insert.run(streamId, revision, e.eventId, e.type, JSON.stringify(e.data), JSON.stringify(e.metadata), recordedAt);
        position = Number(info.lastInsertRowid);
      } catch (error) {
        if (isUniqueViolation(error)) throw new DuplicateEventId(e.eventId);
        throw error;
      }
      revision++;
    }
    return { nextExpectedRevision: revision - 1, position };
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    let outcomes: Array<{ ok: AppendResult } | { error: unknown }>;
    try {
      outcomes = this.appendBatch.immediate(batch);
    } catch (error) {
      // The commit itself failed: nothing of this batch is stored.
      for (const a of batch) a.reject(error);
      return;
    }
    this.appended.notify();
    outcomes.forEach((outcome, i) => {
      const a = batch[i] as PendingAppend;
      if ('ok' in outcome) a.resolve(outcome.ok);
      else a.reject(outcome.error);
    });
  }

  async readStream(streamId: string, fromRevision = 0): Promise<RecordedEvent[]> {
    return this.stmt.readStream.all(streamId, fromRevision).map(toRecorded);
  }

  async readAll({ after, maxCount }: ReadAllOptions): Promise<RecordedEvent[]> {
    if (this.closed) return [];
    return this.stmt.readAll.all(after, maxCount).map(toRecorded);
  }

  async headPosition(): Promise<number> {
    return this.stmt.head.get()?.head ?? 0;
  }

  subscribeToAll(after: number): Subscription {
    const subscription = catchUpSubscription(
      { readAll: (o) => this.readAll(o), waitForAppend: (signal) => this.appended.wait(signal, this.pollMs) },
      after,
    );
    this.subscriptions.add(subscription);
    return subscription;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    for (const s of this.subscriptions) s.close();
    this.db.close();
  }
}
