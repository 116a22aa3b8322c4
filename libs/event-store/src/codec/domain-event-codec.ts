import { DomainEvent, EVENT_SCHEMA_VERSIONS, isEventType, upcast } from '@flash/domain';
import { EventData, EventMetadata, RecordedEvent } from '../event-store.port';
import { uuidV5In } from './uuid-v5';

/** Namespace of every deterministic id this system derives (UUIDv5). */
const NAMESPACE = '6f1d8a52-3a8e-4f8e-9d55-0c1f6e0b7a11';
const uuidv5 = uuidV5In(NAMESPACE);

/** The reservation (= order) id of a purchase attempt: the same sale, user and Idempotency-Key give the same id. */
export const reservationIdFor = (saleId: string, userId: string, idempotencyKey: string): string =>
  uuidv5(`reservation\n${saleId}\n${userId}\n${idempotencyKey}`);

/**
 * An event's id is derived from what it is about, so a retried append carries the same ids and the store
 * recognises it: each of these events happens at most once per (stream, type, order/reservation, payment).
 * A QuotaClaimed is about the buyer's Idempotency-Key alone, not the sale: a key belongs to its user and its first
 * sale, and the store's unique event ids refuse (DuplicateEventId) a claim under the same key in another sale's stream.
 */
export const eventIdFor = (streamId: string, event: DomainEvent): string => {
  if (event.type === 'QuotaClaimed') return uuidv5(`QuotaClaimed\n${event.data.userId}\n${event.data.idempotencyKey}`);
  // One order, one placement in its sale, whichever shard and process: a second OrderPlaced for it, on another shard (a compensation
  // or another replica that had not seen the first yet), is refused by the store (DuplicateEventId).
  if (event.type === 'OrderPlaced') return uuidv5(`OrderPlaced\n${event.data.saleId}\n${event.data.orderId}`);
  const d = event.data as { orderId?: string; reservationId?: string; paymentId?: string };
  return uuidv5(`${streamId}\n${event.type}\n${d.orderId ?? d.reservationId ?? ''}\n${d.paymentId ?? ''}`);
};

/**
 * Event types whose ids must be unique across the whole store, not only within their stream (the two above).
 * The SQL stores' ids are all unique; a store whose are not (EventStoreDB) guards these types' ids (see its adapter).
 */
export const STORE_WIDE_ID_EVENT_TYPES: readonly string[] = ['QuotaClaimed', 'OrderPlaced'];

export type CommandMetadata = Omit<EventMetadata, 'schemaVersion'>;

export const encodeEvent = (streamId: string, event: DomainEvent, metadata: CommandMetadata = {}): EventData => ({
  eventId: eventIdFor(streamId, event),
  type: event.type,
  data: event.data as unknown as Record<string, unknown>,
  metadata: { ...metadata, schemaVersion: EVENT_SCHEMA_VERSIONS[event.type] },
});

export class UnknownEventType extends Error {}

/** A stored event as the domain sees it today: old schema versions are upcast on the way in. */
export const decodeEvent = (recorded: RecordedEvent): DomainEvent => {
  if (!isEventType(recorded.type)) throw new UnknownEventType(`unknown event type ${recorded.type} at position ${recorded.position}`);
  const schemaVersion = typeof recorded.metadata.schemaVersion === 'number' ? recorded.metadata.schemaVersion : 1;
  return { type: recorded.type, data: upcast(recorded.type, schemaVersion, recorded.data) } as DomainEvent;
};
