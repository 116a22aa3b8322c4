import {
  DomainError,
  fold,
  inventoryShardDecider,
  inventoryStream,
  Order,
  ShardCommand,
  ShardConfig,
  ShardEvent,
  ShardState,
} from '@flash/domain';
import { CommandMetadata, decodeEvent, DuplicateEventId, encodeEvent, EventStore, ExpectedRevision, loadStream, NO_STREAM } from '@flash/event-store';
import { Clock } from '../clock';

export interface ShardOutcome {
  /** The order the command was about, as the shard holds it after the command (undefined if unknown). */
  readonly order: Order | undefined;
  /** Events this command appended; [] when it was a repeat of something already decided. */
  readonly events: readonly ShardEvent[];
  readonly position: number;
}

interface Job {
  readonly command: ShardCommand;
  readonly metadata: CommandMetadata;
  readonly resolve: (o: ShardOutcome) => void;
  readonly reject: (e: unknown) => void;
}

export interface ShardWriterOptions {
  /** Most commands decided and appended in one batch (1 turns group commit off, for the benchmark). */
  readonly maxBatch: number;
  /** Attempts at one batch before its commands fail (each attempt after a conflict re-reads the stream). */
  readonly maxAttempts?: number;
  /** Hears of every append that landed: the commands whose events it carried, and the store's time to make it durable. */
  readonly onAppended?: AppendObserver;
}

export type AppendObserver = (commands: number, seconds: number) => void;

export interface ShardWriterMetrics {
  batches: number;
  commands: number;
  conflicts: number;
}

/**
 * The single writer of one inventory shard. Commands queue up; the writer takes a batch, decides each command in
 * order against its cached state, and appends all resulting events in one call with the exact revision it decided
 * on. On any append failure (a conflict, or an outcome it cannot know) the cache is no longer trusted: it re-reads
 * the stream and decides the batch again; the decider is idempotent per order, so what did land is not redone.
 *
 * The cached state is folded as the batch is decided, so readers of `state` may see a decision up to one append
 * before it is durable; every acknowledgement waits for the append.
 */
export class ShardWriter {
  private queue: Job[] = [];
  /** Set when an append failed and the stream could not be re-read: the cache must not be decided on. */
  private stale = false;
  private draining: Promise<void> | undefined;
  /** The highest revision of this stream seen in the log, appended by anyone (this process or another). */
  private seenRevision = -1;
  readonly metrics: ShardWriterMetrics = { batches: 0, commands: 0, conflicts: 0 };

  private constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
    private readonly config: ShardConfig,
    private readonly options: ShardWriterOptions,
    private current: ShardState,
    private revision: ExpectedRevision,
    private lastPosition: number,
  ) {}

  static async load(store: EventStore, clock: Clock, config: ShardConfig, options: ShardWriterOptions): Promise<ShardWriter> {
    const { state, revision, position } = await ShardWriter.read(store, config);
    return new ShardWriter(store, clock, config, options, state, revision, position);
  }

  /** Folds the shard's stream from the store: the truth, independent of any cache. */
  static async read(store: EventStore, config: ShardConfig): Promise<{ state: ShardState; revision: ExpectedRevision; position: number }> {
    const loaded = await loadStream(store, inventoryStream(config.saleId, config.shard), inventoryShardDecider.evolve, inventoryShardDecider.initialState(config));
    return { state: loaded.state, revision: loaded.expectedRevision, position: loaded.position };
  }

  get state(): ShardState {
    return this.current;
  }

  /** False while `state` may hold decisions of a failed append (the stream could not be re-read yet). */
  get trusted(): boolean {
    return !this.stale;
  }

  get streamId(): string {
    return inventoryStream(this.config.saleId, this.config.shard);
  }

  get queued(): number {
    return this.queue.length;
  }

  submit(command: ShardCommand, metadata: CommandMetadata = {}): Promise<ShardOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ command, metadata, resolve, reject });
      this.draining ??= this.drain();
    });
  }

  /**
   * The log shows this revision of the stream. Beyond what the writer knows, another process appended (a worker
   * expiring a hold, another writer before it lost its lease). With `catchUp`, the writer catches up at once, reading
   * only what it missed, in turn with its batches — so stock given back elsewhere shows here without waiting for a
   * purchase (a sold-out shard gets none). Without it (a shard another replica owns, issue #22), it only remembers that
   * it is behind: one read per append of another replica would cost more than this replica's own writes, and the read
   * happens when it matters — before its next decision here (drain), or when an answer needs the shard (`fresh`).
   * Its own appends are known already (or about to be, by the batch in flight): nothing to read.
   */
  observe(revision: number, catchUp = true): void {
    if (revision <= this.seenRevision) return;
    this.seenRevision = revision;
    if (catchUp && this.behind) this.draining ??= this.drain();
  }

  /** The log has shown appends beyond `state`, not read yet: the cache may be older than the stream. */
  get behind(): boolean {
    return this.eventsBehind > 0;
  }

  /** How many events the log has shown beyond `state`: a bound on what others decided here since it was read. */
  get eventsBehind(): number {
    return Math.max(0, this.seenRevision - (this.revision === NO_STREAM ? -1 : this.revision));
  }

  /** Resolves once `state` includes every append the log has shown this writer (in turn with queued commands). */
  async fresh(): Promise<void> {
    if (!this.behind) return;
    this.draining ??= this.drain();
    await this.flush();
  }

  /** Resolves once every queued command has been settled. */
  async flush(): Promise<void> {
    while (this.draining) await this.draining;
  }

  /** The whole stream folded afresh: after a failed append, whose decisions the cached collections may still hold. */
  private async reload(): Promise<boolean> {
    try {
      const truth = await ShardWriter.read(this.store, this.config);
      this.current = truth.state;
      this.revision = truth.revision;
      this.lastPosition = truth.position;
      this.stale = false;
      return true;
    } catch {
      return false;
    } finally {
      this.forgetSeenBeyond();
    }
  }

  /**
   * Folds only what others appended after the writer's revision into the cache, which holds exactly the state at that
   * revision (no failed append since: that would have made it stale). On a failed read the cache turns stale and is
   * re-read in full before the next decision.
   */
  private async catchUp(): Promise<void> {
    const from = this.revision === NO_STREAM ? 0 : this.revision + 1;
    try {
      const missed = await this.store.readStream(this.streamId, from);
      let state = this.current;
      for (const recorded of missed) state = inventoryShardDecider.evolve(state, decodeEvent(recorded) as ShardEvent);
      const last = missed[missed.length - 1];
      if (last !== undefined) {
        this.current = state;
        this.revision = last.revision;
        this.lastPosition = last.position;
      }
    } catch {
      this.stale = true;
    } finally {
      this.forgetSeenBeyond();
    }
  }

  /** Not behind anything the log has shown once caught up; after a failed read, the stale path re-reads before deciding. */
  private forgetSeenBeyond(): void {
    this.seenRevision = Math.min(this.seenRevision, this.revision === NO_STREAM ? -1 : this.revision);
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 || this.behind) {
        if (this.behind) await (this.stale ? this.reload() : this.catchUp());
        if (this.queue.length === 0) break;
        const batch = this.queue.splice(0, this.options.maxBatch);
        await this.runBatch(batch);
      }
    } finally {
      this.draining = undefined;
    }
  }

  /**
   * Reads whatever others appended to the stream since the writer's revision, now (not only what the log has shown it
   * so far), in turn with queued commands: to find an order the store says was placed here by another process.
   */
  async catchUpNow(): Promise<void> {
    this.observe(this.revision === NO_STREAM ? 0 : this.revision + 1);
    await this.flush();
  }

  private async runBatch(jobs: readonly Job[]): Promise<void> {
    const maxAttempts = this.options.maxAttempts ?? 5;
    let batch = jobs;
    for (let attempt = 1; ; attempt++) {
      if (this.stale && !(await this.reload())) {
        for (const job of batch) job.reject(new ShardUnavailable(this.streamId, 'the shard stream could not be read'));
        return;
      }
      const now = this.clock.now();
      let state = this.current;
      const decided = batch.map((job) => {
        try {
          const events = inventoryShardDecider.decide(job.command, state, now);
          state = fold(inventoryShardDecider.evolve, state, events);
          return { job, events };
        } catch (error) {
          return { job, events: [] as ShardEvent[], error };
        }
      });
      const encoded = decided.map(({ job, events }) => events.map((e) => encodeEvent(this.streamId, e, job.metadata)));
      const toAppend = encoded.flat();
      try {
        if (toAppend.length > 0) {
          const started = performance.now();
          const result = await this.store.append(this.streamId, toAppend, this.revision);
          this.options.onAppended?.(decided.reduce((n, d) => (d.events.length > 0 ? n + 1 : n), 0), (performance.now() - started) / 1000);
          this.revision = result.nextExpectedRevision;
          this.lastPosition = result.position;
        }
        this.current = state;
        this.metrics.batches++;
        this.metrics.commands += batch.length;
        for (const { job, events, error } of decided) {
          if (error !== undefined) job.reject(error);
          else job.resolve({ order: state.orders.get(orderIdOf(job.command)), events, position: this.lastPosition });
        }
        return;
      } catch (error) {
        // The store holds this order's OrderPlaced on another shard already: that command alone is answered (the caller
        // finds the order there), the rest of the batch decided again, as the same attempt. The decisions folded the
        // cache in place (the refused placement included), so it is read afresh first: left as it is, it would hold an
        // order the store refused, and answer it.
        const placed = error instanceof DuplicateEventId ? encoded.findIndex((events) => events.some((e) => e.type === 'OrderPlaced' && e.eventId.toLowerCase() === error.eventId.toLowerCase())) : -1;
        const elsewhere = decided[placed];
        if (elsewhere !== undefined) {
          this.stale = true;
          elsewhere.job.reject(new PlacedElsewhere(orderIdOf(elsewhere.job.command)));
          batch = batch.filter((job) => job !== elsewhere.job);
          if (batch.length === 0) {
            await this.reload();
            return;
          }
          attempt--;
          continue;
        }
        this.metrics.conflicts++;
        this.stale = true;
        const reloaded = await this.reload();
        if (attempt >= maxAttempts || !reloaded) {
          for (const { job } of decided) job.reject(new ShardUnavailable(this.streamId, error));
          return;
        }
      }
    }
  }
}

const orderIdOf = (c: ShardCommand): string => c.orderId;

/** The order's OrderPlaced is in the store on another shard (placed by another process first): look for it there. */
export class PlacedElsewhere extends Error {
  constructor(readonly orderId: string) {
    super(`order ${orderId} is placed on another shard`);
    this.name = 'PlacedElsewhere';
  }
}

/** The shard could not record a decision after its retries; the outcome for the caller is unknown and retryable. */
export class ShardUnavailable extends DomainError {
  constructor(streamId: string, cause: unknown) {
    super('OVERLOADED', `inventory shard ${streamId} could not record the decision, retry with the same Idempotency-Key`, {
      cause: cause instanceof Error ? cause.message : String(cause),
    });
  }
}
