import { isEventType } from '@flash/domain';
import { decodeEvent, decodeLogEvent, EventStore, eventsBehind, LogPage, LogPageRequest, LogPayload } from '@flash/event-store';
import { DocumentReplacement, DocumentStore, StoredDocument } from './document-store';
import { DocumentKey, DocumentSession, physicalCollection, POSITION_FIELD, Projection, ProjectedEvent } from './projection';

/** Events per read from a ProjectionLogReader within one batch: the events of a page are dropped once applied. */
const READER_PAGE_SIZE = 512;

/** Checkpoints of every projection generation, one document each (`{_id: "analytics_v2", position}`). */
export const CHECKPOINT_COLLECTION = 'projection_checkpoints';

export const checkpointId = (projection: string, generation: number): string => `${projection}_v${String(generation)}`;

/**
 * A sequential reader of the same log as the runner's EventStore (SqliteLogReader on the store's file, or the
 * PostgreSQL store itself): what a rebuild reads through, for large pages of only the event types the projection
 * declares.
 */
export interface ProjectionLogReader {
  headPosition(): number | Promise<number>;
  readPayloads(request: LogPageRequest): LogPage<LogPayload> | Promise<LogPage<LogPayload>>;
}

export interface ProjectionRunnerOptions {
  readonly generation: number;
  /** Events read and applied per batch, written with their checkpoint in one `replace`. */
  readonly batchSize: number;
  /**
   * Read the log through this instead of `EventStore.readAll` (the projections CLI's rebuild). Batches then hold
   * `batchSize` events of the projection's types; the checkpoint still moves over every event in between.
   */
  readonly logReader?: ProjectionLogReader;
  /** How long to wait for new events when caught up. */
  readonly idleMs: number;
  readonly now: () => number;
  /** Called after each batch (progress bars, metrics). */
  readonly onBatch?: (progress: ProjectionProgress) => void;
  /**
   * Called as a batch read through `logReader` moves on, before it is written (a rebuild's progress bar): read through
   * `position`, `events` more of the projection's types.
   */
  readonly onRead?: (position: number, events: number) => void;
  /**
   * How long to wait before the next batch while following (0: go on). An embedded api answers "busy" while requests
   * are in flight, so a spike is served first and the read models catch up after it (the lag shows in metrics).
   */
  readonly pace?: () => number;
  /**
   * After a batch that reached the head, wait this long before the next (0: go on). A follower whose readers can wait
   * that long (the worker's analytics) then folds a stretch of the log per batch, one document write and one checkpoint
   * for it, instead of a batch of a few events per commit; a batch behind the head (a catch-up) never waits.
   */
  readonly followEveryMs?: number;
  /** Called when the follow loop hits an error; it retries after `idleMs`. */
  readonly onError?: (error: unknown) => void;
}

export interface ProjectionProgress {
  readonly projection: string;
  readonly generation: number;
  readonly position: number;
  readonly head: number;
  /** Events appended but not yet applied. */
  readonly lagEvents: number;
  /** Age of the oldest event not yet applied, 0 when caught up. */
  readonly lagMs: number;
  readonly caughtUp: boolean;
  readonly paused: boolean;
}

/** How often the lag is counted on a store with sparse positions (a read of up to EVENTS_BEHIND_CAP events). */
const LAG_COUNT_EVERY_MS = 1000;

/** How often a watched generation's progress is read: for readiness and lag gauges, not worth a tighter poll. */
const WATCH_POLL_MS = 250;

/**
 * Feeds one generation of a projection from the global log, from its stored checkpoint on. Delivery is at-least-once
 * (a crash between the documents and the checkpoint replays the batch); every document carries the position of the
 * last event applied to it and skips anything at or below it, so the effect is exactly-once.
 */
export class ProjectionRunner {
  private position = 0;
  private head = 0;
  private lagMs = 0;
  /** The last count of events behind, on a store with sparse positions (see countLag). */
  private sparseLagEvents = 0;
  private lagCountedAt = Number.NEGATIVE_INFINITY;
  private everCaughtUp = false;
  private paused = false;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private typeSet: ReadonlySet<string> | undefined;
  /** Set by `startEmpty`: until the first batch is written, the generation holds no document to load. */
  private emptyGeneration = false;

  constructor(
    private readonly store: EventStore,
    private readonly docs: DocumentStore,
    readonly projection: Projection,
    private readonly options: ProjectionRunnerOptions,
  ) {}

  get generation(): number {
    return this.options.generation;
  }

  /**
   * Declares the generation empty (a rebuild that just dropped it, before anything else writes it): until this runner
   * writes its first batch, documents are not looked up in the store, since none can be there.
   */
  startEmpty(): void {
    this.emptyGeneration = true;
  }

  async loadCheckpoint(): Promise<number> {
    const saved = await this.docs.get(CHECKPOINT_COLLECTION, checkpointId(this.projection.name, this.generation));
    this.position = typeof saved?.position === 'number' ? saved.position : 0;
    return this.position;
  }

  async ensureIndexes(): Promise<void> {
    for (const [collection, indexes] of Object.entries(this.projection.indexes)) {
      await this.docs.ensureIndexes(physicalCollection(collection, this.generation), indexes);
    }
  }

  /** Applies everything up to the head as it is when called (or when it moves meanwhile), then resolves. */
  async catchUp(): Promise<void> {
    for (;;) {
      this.head = await this.headPosition();
      if (this.position >= this.head) break;
      await this.step();
    }
    this.markCaughtUp();
  }

  /** Follows the log until stopped: catch up, then poll for new events every `idleMs`. */
  follow(): void {
    this.stopped = false;
    this.loop ??= this.run().finally(() => (this.loop = undefined));
  }

  /**
   * Watches a generation that another process feeds (the worker, with WORKER=external): its stored checkpoint and
   * the log's head, every WATCH_POLL_MS, for progress and readiness only; nothing is applied here. Caught up once the
   * checkpoint reaches the head as it was when watching began.
   */
  watch(): void {
    this.stopped = false;
    this.loop ??= this.observe().finally(() => (this.loop = undefined));
  }

  private async observe(): Promise<void> {
    let target: number | undefined;
    while (!this.stopped) {
      try {
        this.head = await this.headPosition();
        target ??= this.head;
        if ((await this.loadCheckpoint()) >= target) this.markCaughtUp();
      } catch (error) {
        this.options.onError?.(error);
      }
      await this.sleep(WATCH_POLL_MS);
    }
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  /** Resolves once everything appended up to `position` is in the read model. */
  async waitForPosition(position: number, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.position < position) {
      if (Date.now() > deadline) throw new Error(`projection ${this.projection.name} did not reach position ${String(position)} (at ${String(this.position)})`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  progress(): ProjectionProgress {
    const lagEvents = this.position >= this.head ? 0 : this.store.densePositions === true ? this.head - this.position : this.sparseLagEvents;
    return {
      projection: this.projection.name,
      generation: this.generation,
      position: this.position,
      head: this.head,
      lagEvents,
      lagMs: lagEvents === 0 ? 0 : this.lagMs,
      caughtUp: this.everCaughtUp,
      paused: this.paused,
    };
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (this.paused) {
          await this.sleep();
          continue;
        }
        this.head = await this.headPosition();
        if (this.position >= this.head) {
          this.markCaughtUp();
          await this.sleep();
          continue;
        }
        await this.step();
        await this.countLag();
        const pause = this.options.pace?.() ?? 0;
        const following = this.position >= this.head ? (this.options.followEveryMs ?? 0) : 0;
        if (pause > 0 || following > 0) await this.sleep(Math.max(pause, following));
        // A synchronous store (SQLite) hands every page over at once: without a turn of the event loop between
        // batches, a catch-up would hold the process until it is done, /health/live and purchases included.
        else await new Promise((resolve) => setImmediate(resolve));
      } catch (error) {
        this.options.onError?.(error);
        await this.sleep();
      }
    }
  }

  /**
   * On a store whose positions are sparse, `head - position` is not a number of events: count them by reading, at most
   * once a second (a dense store's lag is the subtraction, in progress()).
   */
  private async countLag(): Promise<void> {
    if (this.store.densePositions === true || this.options.now() - this.lagCountedAt < LAG_COUNT_EVERY_MS) return;
    this.lagCountedAt = this.options.now();
    this.sparseLagEvents = await eventsBehind(this.store, this.position, this.head);
  }

  private headPosition(): Promise<number> {
    return this.options.logReader ? Promise.resolve(this.options.logReader.headPosition()) : this.store.headPosition();
  }

  /** Reads one page after the checkpoint, applies it, and writes its documents with the new checkpoint. */
  private async step(): Promise<void> {
    if (this.options.logReader) return this.stepThrough(this.options.logReader);
    const page = await this.store.readAll({ after: this.position, maxCount: this.options.batchSize });
    const last = page.at(-1);
    if (!last) return;
    const first = page[0] ?? last;
    this.lagMs = Math.max(0, this.options.now() - first.recordedAt);
    const events: ProjectedEvent[] = [];
    for (const recorded of page) {
      if (this.wants(recorded.type)) events.push({ event: decodeEvent(recorded), position: recorded.position, recordedAt: recorded.recordedAt });
    }
    await this.applyBatch(events, last.position);
    this.position = last.position;
    this.options.onBatch?.(this.progress());
  }

  /**
   * The same through the log reader, for batches far larger than a page: only the projection's event types come out
   * of the store, page by page into one session (each document loaded once, when first touched), and every document
   * the batch changed is written once, with the checkpoint, at its end.
   */
  private async stepThrough(reader: ProjectionLogReader): Promise<void> {
    const types = this.projection.eventTypes;
    const session = new BatchSession(this.generation, this.emptyGeneration);
    let through = this.position;
    let applied = 0;
    let first: ProjectedEvent | undefined;
    while (through < this.head && applied < this.options.batchSize) {
      const maxCount = Math.min(READER_PAGE_SIZE, this.options.batchSize - applied);
      const page = await reader.readPayloads({ after: through, upTo: this.head, maxCount, ...(types ? { types } : {}) });
      if (page.through <= through) break;
      const events: ProjectedEvent[] = [];
      for (const logged of page.events) {
        if (isEventType(logged.type)) events.push({ event: decodeLogEvent(logged), position: logged.position, recordedAt: logged.recordedAt });
      }
      first ??= events[0];
      await this.applyEvents(session, events);
      applied += page.events.length;
      through = page.through;
      this.options.onRead?.(through, page.events.length);
    }
    if (through <= this.position) return;
    this.lagMs = first ? Math.max(0, this.options.now() - first.recordedAt) : 0;
    await this.write(session, through);
    this.position = through;
    this.options.onBatch?.(this.progress());
  }

  /** A known event type the projection acts on: the others are skipped without being decoded. */
  private wants(type: string): boolean {
    if (!isEventType(type)) return false;
    return this.eventTypes === undefined || this.eventTypes.has(type);
  }

  private get eventTypes(): ReadonlySet<string> | undefined {
    const types = this.projection.eventTypes;
    if (types === undefined) return undefined;
    this.typeSet ??= new Set(types);
    return this.typeSet;
  }

  private async applyBatch(events: readonly ProjectedEvent[], lastPosition: number): Promise<void> {
    const session = new BatchSession(this.generation, this.emptyGeneration);
    await this.applyEvents(session, events);
    await this.write(session, lastPosition);
  }

  private async applyEvents(session: BatchSession, events: readonly ProjectedEvent[]): Promise<void> {
    await session.load(this.docs, events.flatMap((e) => this.projection.touches(e)));
    for (const e of events) {
      session.at(e.position);
      this.projection.apply(e, session);
    }
  }

  /** The batch's changed documents and, last, the checkpoint that vouches for them, in one `replace`. */
  private async write(session: BatchSession, lastPosition: number): Promise<void> {
    const checkpoint: DocumentReplacement = {
      collection: CHECKPOINT_COLLECTION,
      doc: { _id: checkpointId(this.projection.name, this.generation), position: lastPosition, updatedAt: this.options.now() },
    };
    const replacements = session.changed();
    replacements.push(checkpoint);
    try {
      // The checkpoint goes last: written after (or, in SQLite, with) the documents it vouches for.
      await this.docs.replace(replacements);
    } finally {
      // From now on the generation may hold what this batch wrote (some of it, if the write failed halfway).
      this.emptyGeneration = false;
    }
  }

  private markCaughtUp(): void {
    this.everCaughtUp = true;
    this.lagMs = 0;
  }

  private sleep(ms = this.options.idleMs): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }
}

/** The order of `Array.prototype.sort()` on strings, through a comparator (several times faster on V8). */
const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The documents of one collection a batch has seen: loaded (or known absent) and changed. */
interface CollectionBatch {
  readonly physical: string;
  /** id → the document as the batch has it; undefined: known not to exist. */
  readonly docs: Map<string, StoredDocument | undefined>;
  readonly dirty: Map<string, StoredDocument>;
}

class BatchSession implements DocumentSession {
  private readonly collections = new Map<string, CollectionBatch>();
  private position = 0;

  /** `empty`: the store holds no document of this generation, so nothing needs loading. */
  constructor(
    private readonly generation: number,
    private readonly empty: boolean,
  ) {}

  async load(store: DocumentStore, keys: readonly DocumentKey[]): Promise<void> {
    const missing = new Map<CollectionBatch, Set<string>>();
    for (const { collection, id } of keys) {
      const batch = this.batch(collection);
      if (batch.docs.has(id)) continue;
      // Known absent from now on, unless the store has it (below).
      batch.docs.set(id, undefined);
      if (this.empty) continue;
      let ids = missing.get(batch);
      if (!ids) missing.set(batch, (ids = new Set()));
      ids.add(id);
    }
    for (const [batch, ids] of missing) {
      for (const doc of await store.getMany(batch.physical, [...ids])) batch.docs.set(doc._id, doc);
    }
  }

  at(position: number): void {
    this.position = position;
  }

  get(collection: string, id: string): StoredDocument | undefined {
    const docs = this.collections.get(collection)?.docs;
    if (!docs?.has(id)) throw new Error(`projection read ${collection}\u0000${id} without declaring it in touches()`);
    return docs.get(id);
  }

  update(collection: string, id: string, change: (current: StoredDocument | undefined) => Record<string, unknown>): void {
    const current = this.get(collection, id);
    const applied = current?.[POSITION_FIELD];
    if (typeof applied === 'number' && applied >= this.position) return;
    const changed = change(current);
    // The same document as `{ ...changed, _id, _position }`, without copying every field once more: `changed` is a
    // new object (see DocumentSession.update); a `current` handed back is copied after all.
    const next: Record<string, unknown> = changed === current ? { ...changed } : changed;
    next._id = id;
    next[POSITION_FIELD] = this.position;
    const batch = this.batch(collection);
    batch.docs.set(id, next as StoredDocument);
    batch.dirty.set(id, next as StoredDocument);
  }

  /** Every document the batch changed, once, as it is at the end of the batch; by collection, each in _id order. */
  changed(): DocumentReplacement[] {
    const out: DocumentReplacement[] = [];
    for (const { physical, dirty } of this.collections.values()) {
      for (const id of [...dirty.keys()].sort(byCodeUnits)) out.push({ collection: physical, doc: dirty.get(id) as StoredDocument });
    }
    return out;
  }

  private batch(collection: string): CollectionBatch {
    let batch = this.collections.get(collection);
    if (!batch) {
      batch = { physical: physicalCollection(collection, this.generation), docs: new Map(), dirty: new Map() };
      this.collections.set(collection, batch);
    }
    return batch;
  }
}
