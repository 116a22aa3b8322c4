/**
 * The event store port: the truth of the system. Adapters: SQLite (embedded default), in-memory (tests),
 * PostgreSQL (several processes on one store), EventStoreDB (production; sparse positions). One contract suite
 * (../test/event-store.contract.ts) runs against every adapter.
 */
export const NO_STREAM = 'no_stream' as const;
/** The revision the writer decided on, or NO_STREAM. There is deliberately no "any revision". */
export type ExpectedRevision = number | typeof NO_STREAM;

export interface EventMetadata {
  readonly schemaVersion: number;
  readonly correlationId?: string;
  readonly causationId?: string;
  readonly userId?: string;
  readonly clientIpHash?: string;
  /** Epoch ms at which the decision was taken (the Clock port's time, not the store's). */
  readonly decidedAt?: number;
  readonly [key: string]: unknown;
}

export interface EventData {
  /** Deterministic where a retry must be recognised (UUIDv5 of what the event is about). */
  readonly eventId: string;
  readonly type: string;
  readonly data: Record<string, unknown>;
  readonly metadata: EventMetadata;
}

export interface RecordedEvent extends EventData {
  readonly streamId: string;
  /** 0-based position of the event in its stream. */
  readonly revision: number;
  /**
   * Position in the store's single total order ("$all"): at least 1, strictly increasing. Dense (1, 2, 3, …) on the
   * SQL and in-memory stores; SPARSE on EventStoreDB (log offsets): never subtract positions to count events (see
   * eventsBehind), and pass as `after` only 0 or a position the store gave.
   */
  readonly position: number;
  /** Epoch ms at which the store recorded it. */
  readonly recordedAt: number;
}

export interface AppendResult {
  /** Revision of the last event now in the stream: the expectedRevision of the next append. */
  readonly nextExpectedRevision: number;
  /** Global position of the last event appended. */
  readonly position: number;
}

export interface ReadAllOptions {
  /** Exclusive: events with a greater position are returned. 0 reads from the start. */
  readonly after: number;
  readonly maxCount: number;
}

export interface Subscription extends AsyncIterable<RecordedEvent> {
  /** Ends the iteration; pending `next()` calls resolve as done. */
  close(): void;
  /**
   * Reads the log at once, whatever pace the subscriber follows at (followEveryMs) and without waiting for the store's
   * wake-up: for a lookup that missed and waits for the follower (an order another replica has just answered for).
   * Optional: a store whose subscriptions are pushed to it (EventStoreDB) has nothing to hurry.
   */
  hurry?(): void;
}

/**
 * When an append may resolve. 'durable' (the default): once the events would survive a crash. 'ordered': once
 * they are committed in the log's order, possibly before they are durable; they become durable no later than any
 * 'durable' append this same store instance makes after this one resolves. For a step whose acknowledgement waits
 * for a later durable append anyway (a buyer's claim before the order it guards), it saves one wait for the disk.
 * Until they are durable they are not shown to readAll or subscriptions, and a crash may take them back (with
 * nothing acknowledged on them). A store that cannot tell the two apart treats every append as 'durable'.
 */
export type AppendDurability = 'durable' | 'ordered';

export interface AppendOptions {
  readonly durability?: AppendDurability;
}

export interface SubscribeOptions {
  /**
   * The event types whose data and metadata the subscriber reads. Events of other types still come, in order, with
   * their stream, revision, id, type, position and time, but a store may leave their `data` empty ({}) and their
   * `metadata` with its schemaVersion alone, sparing the read and the parse of what nobody looks at (the PostgreSQL
   * store does). Unset: every payload.
   */
  readonly payloadOf?: readonly string[];
}

export interface EventStore {
  /** True when positions are exactly 1, 2, 3, … with no gap, so that `head - position` counts events. */
  readonly densePositions?: boolean;
  append(streamId: string, events: readonly EventData[], expectedRevision: ExpectedRevision, options?: AppendOptions): Promise<AppendResult>;
  /** Events of one stream in revision order; [] for a stream that does not exist. */
  readStream(streamId: string, fromRevision?: number): Promise<RecordedEvent[]>;
  readAll(options: ReadAllOptions): Promise<RecordedEvent[]>;
  /** Position of the last event in the store, 0 when empty. */
  headPosition(): Promise<number>;
  /**
   * Resolves once every event up to `position` would survive a crash: the handle an 'ordered' append's caller awaits
   * before acknowledging anything that rests on it. At once for a store whose every append is durable.
   */
  whenDurable(position: number): Promise<void>;
  /** Catch-up from `after` (exclusive), then live; no gap, no duplicate, in position order. */
  subscribeToAll(after: number, options?: SubscribeOptions): Subscription;
  close(): Promise<void>;
}

export class WrongExpectedRevision extends Error {
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedRevision,
    readonly actual: number | typeof NO_STREAM,
  ) {
    super(`stream ${streamId}: expected revision ${String(expected)}, actual ${String(actual)}`);
    this.name = 'WrongExpectedRevision';
  }
}

/** An event id that is already stored but not as part of this same append. */
export class DuplicateEventId extends Error {
  constructor(readonly eventId: string) {
    super(`event ${eventId} is already stored elsewhere`);
    this.name = 'DuplicateEventId';
  }
}
