import { isEventType } from '@flash/domain';
import { decodeEvent, EventStore, RecordedEvent } from '@flash/event-store';
import { DocumentReplacement, DocumentStore, StoredDocument } from './document-store';
import { DocumentKey, DocumentSession, physicalCollection, POSITION_FIELD, Projection, ProjectedEvent } from './projection';

/** Checkpoints of every projection generation, one document each (`{_id: "analytics_v2", position}`). */
export const CHECKPOINT_COLLECTION = 'projection_checkpoints';

export const checkpointId = (projection: string, generation: number): string => `${projection}_v${String(generation)}`;

export interface ProjectionRunnerOptions {
  readonly generation: number;
  /** Events read and applied per batch, written with their checkpoint in one `replace`. */
  readonly batchSize: number;
  /** How long to wait for new events when caught up. */
  readonly idleMs: number;
  readonly now: () => number;
  /** Called after each batch (progress bars, metrics). */
  readonly onBatch?: (progress: ProjectionProgress) => void;
  /**
   * How long to wait before the next batch while following (0: go on). An embedded api answers "busy" while requests
   * are in flight, so a spike is served first and the read models catch up after it (the lag shows in metrics).
   */
  readonly pace?: () => number;
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

/**
 * Feeds one generation of a projection from the global log, from its stored checkpoint on. Delivery is at-least-once
 * (a crash between the documents and the checkpoint replays the batch); every document carries the position of the
 * last event applied to it and skips anything at or below it, so the effect is exactly-once.
 */
export class ProjectionRunner {
  private position = 0;
  private head = 0;
  private lagMs = 0;
  private everCaughtUp = false;
  private paused = false;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly store: EventStore,
    private readonly docs: DocumentStore,
    readonly projection: Projection,
    private readonly options: ProjectionRunnerOptions,
  ) {}

  get generation(): number {
    return this.options.generation;
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
      this.head = await this.store.headPosition();
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
    const lagEvents = Math.max(0, this.head - this.position);
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
        this.head = await this.store.headPosition();
        if (this.position >= this.head) {
          this.markCaughtUp();
          await this.sleep();
          continue;
        }
        await this.step();
        const pause = this.options.pace?.() ?? 0;
        if (pause > 0) await this.sleep(pause);
      } catch (error) {
        this.options.onError?.(error);
        await this.sleep();
      }
    }
  }

  /** Reads one page after the checkpoint, applies it, and writes its documents with the new checkpoint. */
  private async step(): Promise<void> {
    const page = await this.store.readAll({ after: this.position, maxCount: this.options.batchSize });
    const last = page.at(-1);
    if (!last) return;
    const first = page[0] ?? last;
    this.lagMs = Math.max(0, this.options.now() - first.recordedAt);
    await this.applyBatch(page);
    this.position = last.position;
    this.options.onBatch?.(this.progress());
  }

  private async applyBatch(page: readonly RecordedEvent[]): Promise<void> {
    const events: ProjectedEvent[] = page
      .filter((recorded) => isEventType(recorded.type))
      .map((recorded) => ({ event: decodeEvent(recorded), position: recorded.position, recordedAt: recorded.recordedAt }));
    const session = new BatchSession(this.generation);
    await session.load(this.docs, events.flatMap((e) => this.projection.touches(e)));
    for (const e of events) {
      session.at(e.position);
      this.projection.apply(e, session);
    }
    const lastPosition = page.at(-1)?.position ?? this.position;
    const checkpoint: DocumentReplacement = {
      collection: CHECKPOINT_COLLECTION,
      doc: { _id: checkpointId(this.projection.name, this.generation), position: lastPosition, updatedAt: this.options.now() },
    };
    // The checkpoint goes last: written after (or, in SQLite, with) the documents it vouches for.
    await this.docs.replace([...session.changed(), checkpoint]);
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

class BatchSession implements DocumentSession {
  private readonly docs = new Map<string, StoredDocument | undefined>();
  private readonly dirty = new Map<string, DocumentReplacement>();
  private position = 0;

  constructor(private readonly generation: number) {}

  async load(store: DocumentStore, keys: readonly DocumentKey[]): Promise<void> {
    const byCollection = new Map<string, Set<string>>();
    for (const { collection, id } of keys) {
      if (this.docs.has(this.key(collection, id))) continue;
      let ids = byCollection.get(collection);
      if (!ids) byCollection.set(collection, (ids = new Set()));
      ids.add(id);
    }
    for (const [collection, ids] of byCollection) {
      for (const id of ids) this.docs.set(this.key(collection, id), undefined);
      for (const doc of await store.getMany(physicalCollection(collection, this.generation), [...ids])) this.docs.set(this.key(collection, doc._id), doc);
    }
  }

  at(position: number): void {
    this.position = position;
  }

  get(collection: string, id: string): StoredDocument | undefined {
    const key = this.key(collection, id);
    if (!this.docs.has(key)) throw new Error(`projection read ${key} without declaring it in touches()`);
    return this.docs.get(key);
  }

  update(collection: string, id: string, change: (current: StoredDocument | undefined) => Record<string, unknown>): void {
    const current = this.get(collection, id);
    const applied = current?.[POSITION_FIELD];
    if (typeof applied === 'number' && applied >= this.position) return;
    const next: StoredDocument = { ...change(current), _id: id, [POSITION_FIELD]: this.position };
    const key = this.key(collection, id);
    this.docs.set(key, next);
    this.dirty.set(key, { collection: physicalCollection(collection, this.generation), doc: next });
  }

  changed(): DocumentReplacement[] {
    return [...this.dirty.values()];
  }

  private key(collection: string, id: string): string {
    return `${collection}\u0000${id}`;
  }
}
