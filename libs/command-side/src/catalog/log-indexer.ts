import { DomainEvent, EVENT_SCHEMA_VERSIONS, EventType, RetryLater } from '@flash/domain';
import { decodeEvent, EventLoopSlices, EventStore, RecordedEvent, Subscription } from '@flash/event-store';
import type { Logger } from 'pino';
import { CatalogIndexes, CatalogSnapshots } from './catalog-snapshot';

/** What follows the log: applies the events it cares about, idempotently (an event may come twice). */
export interface LogIndex {
  /** Whether it applies events of this type: events of no index's types are neither decoded nor read whole. */
  reads(type: string): boolean;
  apply(event: DomainEvent): void;
}

export interface LogIndexerOptions {
  /**
   * Sees every recorded event first, undecoded (cheap): e.g. shard writers learning of appends made elsewhere. Only
   * the types the indexes read come with their data and metadata (SubscribeOptions.payloadOf): of the others read the
   * stream, revision, type and position.
   */
  readonly onRecorded?: (recorded: RecordedEvent) => void;
  /** Where the indexes are kept between runs (the api's DATA_DIR): the start replays from there, the stop writes it. */
  readonly snapshot?: { readonly snapshots: CatalogSnapshots; readonly indexes: CatalogIndexes };
}

/** Longest stretch the catch-up at start holds the event loop before letting other work run. */
const CATCH_UP_SLICE_MS = 20;

/**
 * Feeds the command side's in-memory indexes (sale catalogue, order locator, claimant index) from the global log:
 * a catch-up subscription from position 0 at start (the process is not ready until it has caught up), then live.
 * Use cases also apply their own events right after appending them (read-your-writes); indexes apply idempotently.
 */
export class LogIndexer {
  private subscription: Subscription | undefined;
  private appliedPosition = 0;
  /** The id of the event at appliedPosition: a snapshot's anchor. */
  private appliedEventId: string | undefined;
  /** Where this start's fold began: the snapshot loaded, or 0. The stop writes a snapshot only past it. */
  private foldedFrom = 0;
  private caughtUp = false;
  /** Lookups waiting for the indexes to reach a position (reachHead), woken as events are applied. */
  private waiters: Array<{ readonly position: number; readonly wake: () => void }> = [];
  /**
   * The known types some index reads: everything else is skipped without decoding, and the subscription asks the store
   * for these types' payloads only (SubscribeOptions.payloadOf). Of a reservation's three events (QuotaClaimed,
   * StockReserved, OrderPlaced) the order locator reads one, the claimant index (the sole claimant's only) one more;
   * onRecorded needs only streams and revisions.
   */
  private readonly indexedTypes: readonly EventType[];

  constructor(
    private readonly store: EventStore,
    private readonly indexes: readonly LogIndex[],
    private readonly logger: Logger,
    private readonly options: LogIndexerOptions = {},
  ) {
    this.indexedTypes = (Object.keys(EVENT_SCHEMA_VERSIONS) as EventType[]).filter((type) => this.indexed(type));
  }

  private indexed(type: string): boolean {
    return this.indexes.some((index) => index.reads(type));
  }

  /** Replays the log up to its current head, then keeps following it. */
  async start(): Promise<void> {
    const head = await this.store.headPosition();
    const started = Date.now();
    const from = await this.restoreSnapshot(head);
    this.appliedPosition = from;
    this.foldedFrom = from;
    const subscription = this.store.subscribeToAll(from, { payloadOf: this.indexedTypes });
    this.subscription = subscription;
    const iterator = subscription[Symbol.asyncIterator]();
    // Events counted, not positions: those may be sparse (EventStoreDB), and rarely a round number.
    const slices = new EventLoopSlices(CATCH_UP_SLICE_MS);
    for (let applied = 1; this.appliedPosition < head; applied++) {
      const next = await iterator.next();
      if (next.done) return;
      this.applyRecorded(next.value);
      if (applied % 100_000 === 0) this.logger.info({ position: this.appliedPosition, head, events: applied }, 'command-side indexes catching up');
      // In slices, so /health/live and every other request are answered while a long log is replayed.
      if (slices.due()) await slices.yield();
    }
    this.caughtUp = true;
    this.logger.info({ from, head, ms: Date.now() - started }, 'command-side indexes caught up');
    void this.follow(iterator);
  }

  /** The snapshot's position once loaded into the indexes; 0 (fold from the start) without a usable one. */
  private async restoreSnapshot(head: number): Promise<number> {
    const kept = this.options.snapshot;
    if (kept === undefined) return 0;
    const started = Date.now();
    try {
      const anchor = kept.snapshots.anchor();
      if (anchor === undefined) return 0;
      if (anchor.position > head) {
        // Written against a longer log than this store holds: not this store's, or the store lost its tail.
        this.logger.warn({ position: anchor.position, head }, 'the catalog snapshot is ahead of the event log: ignored, the indexes are folded from 0');
        return 0;
      }
      // The event the snapshot was taken at must be this log's, there (positions are dense on the embedded store).
      const [there] = await this.store.readAll({ after: anchor.position - 1, maxCount: 1 });
      if (there?.position !== anchor.position || there.eventId !== anchor.eventId) {
        this.logger.warn({ position: anchor.position }, 'the catalog snapshot was taken of another event log: ignored, the indexes are folded from 0');
        return 0;
      }
      const restored = await kept.snapshots.restore(kept.indexes, anchor);
      if (restored === 0) {
        this.logger.warn({ position: anchor.position }, 'the catalog snapshot was replaced since it was checked: ignored, the indexes are folded from 0');
        return 0;
      }
      this.logger.info({ position: restored, orders: kept.indexes.locator.size, ms: Date.now() - started }, 'command-side indexes loaded from their snapshot');
      return restored;
    } catch (error) {
      // What was loaded is a part of the truth, and folding from 0 applies it all again idempotently.
      this.logger.warn({ err: error }, 'the catalog snapshot could not be read: the indexes are folded from 0');
      return 0;
    }
  }

  private async follow(iterator: AsyncIterator<RecordedEvent>): Promise<void> {
    try {
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) this.applyRecorded(next.value);
    } catch (error) {
      this.caughtUp = false;
      this.logger.error({ err: error }, 'command-side log subscription failed');
    }
    // The subscription ended: nobody waits for positions it will not bring.
    for (const w of this.waiters.splice(0)) w.wake();
  }

  /** True once the log up to its head at start has been applied (and while the subscription lives). */
  get ready(): boolean {
    return this.caughtUp;
  }

  get position(): number {
    return this.appliedPosition;
  }

  /**
   * Resolves once everything the log held when called has been applied (or after `timeoutMs`, whichever is first): a
   * lookup that missed may be about an append another process made a moment ago, such as an order another api
   * replica has just answered 201 for. Costs one head read, and while this process is behind, a read of the log at
   * once (Subscription.hurry) and the wait for it.
   */
  async reachHead(timeoutMs = 2000): Promise<void> {
    const head = await this.store.headPosition();
    if (!this.caughtUp || this.appliedPosition >= head) return;
    // A follower paced to spare the store (followEveryMs) reads now for the lookup waiting on it.
    this.subscription?.hurry?.();
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      const waiter = { position: head, wake: resolve };
      this.waiters.push(waiter);
      timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve();
      }, timeoutMs);
    });
    clearTimeout(timer);
  }

  /** Until the indexes have caught up with the log, a use case answers 503 NOT_READY rather than answer wrongly. */
  refuseUnlessCaughtUp(): void {
    if (!this.caughtUp) throw new RetryLater('NOT_READY', 'the service is catching up with the event log', 1000);
  }

  /** Applies an event this process has just appended, ahead of the subscription. */
  apply(event: DomainEvent): void {
    for (const index of this.indexes) index.apply(event);
  }

  private applyRecorded(recorded: RecordedEvent): void {
    this.appliedPosition = recorded.position;
    this.appliedEventId = recorded.eventId;
    this.options.onRecorded?.(recorded);
    if (this.indexed(recorded.type)) this.apply(decodeEvent(recorded));
    if (this.waiters.length > 0) this.wakeWaiters();
  }

  private wakeWaiters(): void {
    const reached = this.waiters.filter((w) => w.position <= this.appliedPosition);
    if (reached.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.position > this.appliedPosition);
    for (const w of reached) w.wake();
  }

  /** Stops following the log and writes the indexes' snapshot (so the next start replays only what comes after). */
  stop(): void {
    this.subscription?.close();
    const kept = this.options.snapshot;
    if (kept === undefined) return;
    try {
      // Only past what was loaded: an api that applied nothing since its start (appliedEventId unknown) keeps the old one.
      if (this.appliedEventId !== undefined && this.appliedPosition > this.foldedFrom) {
        const started = Date.now();
        kept.snapshots.save(kept.indexes, { position: this.appliedPosition, eventId: this.appliedEventId });
        this.logger.info({ position: this.appliedPosition, ms: Date.now() - started }, 'command-side indexes snapshot written');
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'could not write the catalog snapshot; the next start folds more of the log');
    } finally {
      kept.snapshots.close();
    }
  }
}
