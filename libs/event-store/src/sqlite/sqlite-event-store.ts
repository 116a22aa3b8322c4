import fs from 'node:fs';
import Database from 'better-sqlite3';
import { BackgroundCheckpointer } from './background-checkpointer';
import { assertAppendable, recognisedRetry, StoredEventRef } from '../idempotent-append';
import { AppendSignal, catchUpSubscription } from '../catch-up-subscription';
import {
  AppendOptions,
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
  /**
   * How many of its own latest committed events the writer keeps decoded in memory, so that followers reading the
   * tail of the log (catalog, sagas, projections) share one decoded copy instead of each re-reading and parsing the
   * rows. 0 turns it off. Default 8192.
   */
  readonly tailSize?: number;
  /**
   * Checkpoint the WAL from a worker thread every this many ms instead of inside commits (BackgroundCheckpointer).
   * Off by default; the api turns it on for its store file.
   */
  readonly backgroundCheckpointMs?: number;
  /**
   * With synchronous FULL and coalesced appends: commit without syncing, then fdatasync the WAL on libuv's thread
   * pool, and only then resolve the appends and show their events to readers (see "Durability off the event
   * loop" on the class). The same guarantee as syncing inside the commit, without stalling the event loop.
   * Default false.
   */
  readonly syncOffLoop?: boolean;
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

interface Written {
  readonly result: AppendResult;
  /** The rows as committed, decoded once: what readAll returns for them while they are in the tail. */
  readonly recorded: readonly RecordedEvent[];
}

interface PendingAppend {
  readonly streamId: string;
  readonly events: readonly EventData[];
  readonly expected: ExpectedRevision;
  /** 'ordered': answered at commit; its frames are synced by the sync of any later commit (see append). */
  readonly ordered: boolean;
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

/** An event read from the tail is shared by every follower of the store, so every event read is frozen alike. */
const frozen = (e: RecordedEvent): RecordedEvent => {
  Object.freeze(e.data);
  Object.freeze(e.metadata);
  return Object.freeze(e);
};

const toRecorded = (r: Row): RecordedEvent =>
  frozen({
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
 *
 * Durability off the event loop (`syncOffLoop`): SQLite commits with synchronous=NORMAL (WAL frames written, not
 * synced; still corruption-safe) and the store fdatasyncs the WAL file on the thread pool, one sync at a time; each
 * completed sync covers every commit made before it started, so the commits made while a sync runs form the next
 * group. An append resolves only once its frames are synced, readAll and headPosition show nothing beyond the
 * synced head (a follower never records an event a crash could still take back), and readStream waits for the
 * sync of anything fresher it read (an idempotent replay never acknowledges an unsynced order). A failed sync fails
 * the store for good: after a failed fsync the page cache cannot be trusted to hold what was written.
 *
 * The writer also keeps its latest committed events decoded in memory (the tail): a follower that is reading
 * just behind the head gets them from there, in the same order and with the same content as the rows, and only
 * goes to SQLite when it is further behind or when the positions were not all written by this instance.
 */
export class SqliteEventStore implements EventStore {
  /** Positions are 1, 2, 3, … with no gap. */
  readonly densePositions = true;
  private readonly db: Database.Database;
  private readonly appended = new AppendSignal();
  private readonly pollMs: number;
  private readonly coalesce: boolean;
  private readonly now: () => number;
  private pending: PendingAppend[] = [];
  private flushScheduled = false;
  private closed = false;
  private readonly subscriptions = new Set<Subscription>();
  private readonly tailSize: number;
  private readonly checkpointer: BackgroundCheckpointer | undefined;
  private readonly syncOffLoop: boolean;
  /** syncOffLoop: the WAL file's descriptor, the last committed and the last synced positions, waiters by position. */
  private walFd: number | undefined;
  private committedHead = 0;
  private syncedHead = 0;
  private syncing = false;
  private syncFailure: Error | undefined;
  private syncWaiters: Array<{ position: number; resolve: () => void; reject: (e: unknown) => void }> = [];
  /** Hears how long each fdatasync of the WAL took (observeSyncs). */
  private syncObserver: ((seconds: number) => void) | undefined;
  private readonly file: string;
  /** Contiguous positions [tailFirst, tailFirst + tail.length - 1], all committed by this instance. */
  private tail: RecordedEvent[] = [];
  private tailFirst = 0;

  private readonly stmt: {
    currentRevision: Database.Statement<[string], { revision: number }>;
    findEvent: Database.Statement<[string], StoredEventRef>;
    insert: Database.Statement<[string, number, string, string, string, string, number]>;
    readStream: Database.Statement<[string, number], Row>;
    readAll: Database.Statement<[number, number, number], Row>;
    head: Database.Statement<[], { head: number | null }>;
  };
  private readonly appendOne: (a: PendingAppend) => Written;
  private readonly appendBatch: Database.Transaction<(batch: readonly PendingAppend[]) => Array<{ ok: Written } | { error: unknown }>>;

  constructor(options: SqliteEventStoreOptions) {
    this.pollMs = options.pollMs ?? 100;
    this.coalesce = options.coalesceAppends ?? true;
    this.now = options.now ?? Date.now;
    this.tailSize = options.readonly ? 0 : (options.tailSize ?? 8192);
    this.file = options.file;
    this.syncOffLoop =
      options.syncOffLoop === true && !options.readonly && options.file !== ':memory:' && (options.synchronous ?? 'FULL') === 'FULL' && this.coalesce;
    this.db = new Database(options.file, options.readonly ? { readonly: true, fileMustExist: true } : {});
    // Before anything else: another process (the worker, the api) may be creating the schema at this very moment.
    this.db.pragma('busy_timeout = 5000');
    if (!options.readonly) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${this.syncOffLoop ? 'NORMAL' : (options.synchronous ?? 'FULL')}`);
      this.db.exec(SCHEMA);
    }
    if (!options.readonly && options.backgroundCheckpointMs !== undefined && options.file !== ':memory:') {
      this.db.pragma('wal_autocheckpoint = 0');
      this.checkpointer = new BackgroundCheckpointer(options.file, options.backgroundCheckpointMs);
    }

    this.stmt = {
      currentRevision: this.db.prepare('SELECT revision FROM events WHERE stream_id = ? ORDER BY revision DESC LIMIT 1'),
      findEvent: this.db.prepare('SELECT stream_id AS streamId, revision, position FROM events WHERE event_id = ?'),
      insert: options.readonly
        ? (undefined as never)
        : this.db.prepare('INSERT INTO events (stream_id, revision, event_id, type, data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      readStream: this.db.prepare('SELECT * FROM events WHERE stream_id = ? AND revision >= ? ORDER BY revision'),
      readAll: this.db.prepare('SELECT * FROM events WHERE position > ? AND position <= ? ORDER BY position LIMIT ?'),
      head: this.db.prepare('SELECT max(position) AS head FROM events'),
    };
    // What is in the file when it opens is what the last writer left: as durable as it will get.
    this.syncedHead = this.committedHead = this.stmt.head.get()?.head ?? 0;

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

  /**
   * With syncOffLoop, an 'ordered' append is answered once committed. Its WAL frames precede those of every later
   * commit, and a sync covers every frame written before it starts, so whatever later durable append the caller
   * awaits makes it durable too. Every other mode syncs each commit before answering, so there it is 'durable'.
   */
  append(streamId: string, events: readonly EventData[], expected: ExpectedRevision, options?: AppendOptions): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new Error('event store is closed'));
    if (this.syncFailure) return Promise.reject(this.syncFailure);
    const ordered = options?.durability === 'ordered';
    return new Promise((resolve, reject) => {
      assertAppendable(events); // thrown inside the executor: a rejected promise, never a synchronous throw
      this.pending.push({ streamId, events, expected, ordered, resolve, reject });
      if (!this.coalesce) return this.flush();
      // A durable append made while a sync runs cannot be answered before the next sync, which starts when this one
      // ends: it is committed then, with every other such append, in one transaction instead of one per turn.
      if (this.syncing && !ordered) return;
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private write({ streamId, events, expected }: PendingAppend): Written {
    const row = this.stmt.currentRevision.get(streamId);
    const current = row === undefined ? NO_STREAM : row.revision;
    const retry = recognisedRetry(streamId, events, expected, current, (id) => this.stmt.findEvent.get(id));
    if (retry) return { result: retry, recorded: [] };
    if (expected !== current) throw new WrongExpectedRevision(streamId, expected, current);

    const recordedAt = this.now();
    let revision = current === NO_STREAM ? 0 : current + 1;
    let position = 0;
    const recorded: RecordedEvent[] = [];
    for (const e of events) {
      const data = JSON.stringify(e.data);
      const metadata = JSON.stringify(e.metadata);
      try {
        const info = this.stmt.insert.run(streamId, revision, e.eventId, e.type, data, metadata, recordedAt);
        position = Number(info.lastInsertRowid);
      } catch (error) {
        if (isUniqueViolation(error)) throw new DuplicateEventId(e.eventId);
        throw error;
      }
      if (this.tailSize > 0) {
        recorded.push(toRecorded({ position, stream_id: streamId, revision, event_id: e.eventId, type: e.type, data, metadata, recorded_at: recordedAt }));
      }
      revision++;
    }
    return { result: { nextExpectedRevision: revision - 1, position }, recorded };
  }

  /** Adds committed events (in position order) to the tail; a gap means someone else wrote: start again after it. */
  private remember(recorded: readonly RecordedEvent[]): void {
    for (const event of recorded) {
      if (this.tail.length > 0 && event.position !== this.tailFirst + this.tail.length) this.tail = [];
      if (this.tail.length === 0) this.tailFirst = event.position;
      this.tail.push(event);
    }
    if (this.tail.length > 2 * this.tailSize) {
      const drop = this.tail.length - this.tailSize;
      this.tail = this.tail.slice(drop);
      this.tailFirst += drop;
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    let outcomes: Array<{ ok: Written } | { error: unknown }>;
    try {
      outcomes = this.appendBatch.immediate(batch);
    } catch (error) {
      // The commit itself failed: nothing of this batch is stored.
      for (const a of batch) a.reject(error);
      return;
    }
    if (this.tailSize > 0) for (const outcome of outcomes) if ('ok' in outcome) this.remember(outcome.ok.recorded);
    const settle = (which: (a: PendingAppend) => boolean): void => {
      outcomes.forEach((outcome, i) => {
        const a = batch[i] as PendingAppend;
        if (!which(a)) return;
        if ('ok' in outcome) a.resolve(outcome.ok.result);
        else a.reject(outcome.error);
      });
    };
    const head = outcomes.reduce((max, o) => ('ok' in o ? Math.max(max, o.ok.result.position) : max), this.committedHead);
    if (!this.syncOffLoop) {
      this.committedHead = this.syncedHead = Math.max(this.syncedHead, head);
      this.appended.notify();
      settle(() => true);
      return;
    }
    // Every durable append of the batch, refused ones included, answers once the batch's commit is synced: a
    // refusal read the rows of appends that are not synced yet either.
    this.committedHead = Math.max(this.committedHead, head);
    const durable = batch.some((a) => !a.ordered);
    if (durable) {
      this.whenSynced(this.committedHead).then(
        () => settle((a) => !a.ordered),
        (error: unknown) => batch.forEach((a) => !a.ordered && a.reject(error)),
      );
    }
    // Ordered appends answer now; their sync starts anyway, so that followers see them without waiting for a
    // durable append to come along.
    settle((a) => a.ordered);
    this.startSync();
  }

  /** Resolves once everything up to `position` is synced (at once when it is). */
  private whenSynced(position: number): Promise<void> {
    if (this.syncFailure) return Promise.reject(this.syncFailure);
    if (position <= this.syncedHead) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.syncWaiters.push({ position, resolve, reject });
      this.startSync();
    });
  }

  /**
   * With syncOffLoop: `observer` hears the duration of every fdatasync of the WAL, the store's sync latency (metrics).
   * Without it the sync happens inside each commit, and nothing is reported.
   */
  observeSyncs(observer: (seconds: number) => void): void {
    this.syncObserver = observer;
  }

  /** One fdatasync of the WAL at a time; when it ends, the commits made meanwhile get the next one. */
  private startSync(): void {
    if (this.syncing || this.syncFailure || this.committedHead <= this.syncedHead) return;
    this.syncing = true;
    const target = this.committedHead;
    let fd: number;
    try {
      fd = this.walFd ??= fs.openSync(`${this.file}-wal`, 'r');
    } catch (error) {
      return this.syncFailed(error);
    }
    const started = performance.now();
    fs.fdatasync(fd, (error) => {
      this.syncing = false;
      if (error) return this.syncFailed(error);
      this.syncObserver?.((performance.now() - started) / 1000);
      this.syncedHead = Math.max(this.syncedHead, target);
      const waiters = this.syncWaiters;
      this.syncWaiters = [];
      for (const w of waiters) {
        if (w.position <= this.syncedHead) w.resolve();
        else this.syncWaiters.push(w);
      }
      this.appended.notify();
      if (this.pending.length > 0 && !this.flushScheduled) this.flush(); // what waited for this sync (see append)
      this.startSync();
    });
  }

  private syncFailed(error: unknown): void {
    this.syncing = false;
    this.syncFailure = new Error('the event store could not sync its log to disk; it refuses every append until restarted', { cause: error });
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of waiters) w.reject(this.syncFailure);
    const deferred = this.pending;
    this.pending = [];
    for (const a of deferred) a.reject(this.syncFailure);
  }

  async readStream(streamId: string, fromRevision = 0): Promise<RecordedEvent[]> {
    const events = this.stmt.readStream.all(streamId, fromRevision).map(toRecorded);
    const freshest = events.length === 0 ? 0 : (events[events.length - 1] as RecordedEvent).position;
    if (this.syncOffLoop && freshest > this.syncedHead) await this.whenSynced(freshest);
    return events;
  }

  async readAll({ after, maxCount }: ReadAllOptions): Promise<RecordedEvent[]> {
    if (this.closed) return [];
    // From the tail when it holds the very next position; what lies past its end is read from SQLite (another
    // process may have written there), so a page is never shorter than the log allows.
    // With syncOffLoop only synced positions are shown: a follower never sees what a crash could still undo.
    if (this.syncOffLoop) await this.syncOthersCommits();
    const upTo = this.syncOffLoop ? this.syncedHead : Number.MAX_SAFE_INTEGER;
    const count = Math.min(maxCount, upTo - after);
    if (count <= 0) return [];
    const from = after + 1 - this.tailFirst;
    if (from < 0 || from >= this.tail.length) return this.stmt.readAll.all(after, upTo, count).map(toRecorded);
    const page = this.tail.slice(from, from + count);
    if (page.length < count) {
      for (const row of this.stmt.readAll.all(this.tailFirst + this.tail.length - 1, upTo, count - page.length)) page.push(toRecorded(row));
    }
    return page;
  }

  /**
   * Another process sharing the file (the worker, the api) commits without syncing as this one does: what lies past
   * this instance's own commits is synced here before it is shown, so "only durable events are shown" holds for
   * events of every writer. The fdatasync is of the one WAL file, whoever wrote its frames.
   */
  private async syncOthersCommits(): Promise<void> {
    const head = this.stmt.head.get()?.head ?? 0;
    if (head <= this.committedHead) return;
    this.committedHead = head;
    await this.whenSynced(head);
  }

  async headPosition(): Promise<number> {
    if (this.syncOffLoop) await this.syncOthersCommits();
    const head = this.stmt.head.get()?.head ?? 0;
    return this.syncOffLoop ? Math.min(head, this.syncedHead) : head;
  }

  whenDurable(position: number): Promise<void> {
    return this.syncOffLoop ? this.whenSynced(position) : Promise.resolve();
  }

  subscribeToAll(after: number): Subscription {
    const subscription = catchUpSubscription(
      { readAll: (o) => this.readAll(o), waitForAppend: () => this.appended.wait(this.pollMs) },
      after,
    );
    this.subscriptions.add(subscription);
    return subscription;
  }

  /** The background checkpointer, when there is one (tests). */
  get walCheckpointer(): BackgroundCheckpointer | undefined {
    return this.checkpointer;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    await this.whenSynced(this.committedHead).catch(() => undefined);
    if (this.walFd !== undefined) fs.closeSync(this.walFd);
    for (const s of this.subscriptions) s.close();
    // The worker's connection goes first: the writer's close, the last one, checkpoints and removes the WAL.
    await this.checkpointer?.close();
    this.db.close();
  }
}
