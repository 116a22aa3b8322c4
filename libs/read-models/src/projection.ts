import { DomainEvent, EventType } from '@flash/domain';
import { IndexSpec, StoredDocument } from './document-store';

/** A domain event as a projection sees it: with its place in the global log. */
export interface ProjectedEvent {
  readonly event: DomainEvent;
  /** 1-based position in the store's total order: what makes a re-delivery recognisable. */
  readonly position: number;
  readonly recordedAt: number;
}

export interface DocumentKey {
  readonly collection: string;
  readonly id: string;
}

/** The field every projected document carries: the position of the last event applied to it. */
export const POSITION_FIELD = '_position';

/**
 * A batch's view of the read model. `update` is the only way to write, and it skips a document that already
 * reflects the event's position: that per-document guard is what makes at-least-once delivery exactly-once in
 * effect even where the store cannot write a batch atomically (MongoDB without a replica set).
 */
export interface DocumentSession {
  /** The document as the batch has it so far; after a re-delivery it may already be ahead of the event. */
  get(collection: string, id: string): StoredDocument | undefined;
  /**
   * Writes the document `change` returns, stamped with `_id` and `_position`. `change` returns a new object (it must
   * not hand back `current` or any object it keeps): the session keeps it and sets those two fields on it.
   */
  update(collection: string, id: string, change: (current: StoredDocument | undefined) => Record<string, unknown>): void;
}

/** A read model built from the log: which documents an event touches, and what it does to them. */
export interface Projection {
  readonly name: string;
  /** Logical names; each generation (blue/green copy) stores them under its own physical names. */
  readonly collections: readonly string[];
  readonly indexes: Readonly<Record<string, readonly IndexSpec[]>>;
  /**
   * The event types `touches` and `apply` act on; events of other types are not even decoded (a rebuild does not
   * read them out of the store at all). Every type whose `touches` is non-empty or whose `apply` writes must be
   * listed. Absent: every event type.
   */
  readonly eventTypes?: readonly EventType[];
  /** Every document `apply` may read or write for this event, loaded before it runs (apply itself is synchronous). */
  touches(event: ProjectedEvent): readonly DocumentKey[];
  apply(event: ProjectedEvent, session: DocumentSession): void;
}

/** Where generation `generation` of a projection keeps a logical collection. */
export const physicalCollection = (collection: string, generation: number): string => `${collection}_v${String(generation)}`;
