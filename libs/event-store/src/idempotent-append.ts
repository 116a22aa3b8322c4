import { AppendResult, DuplicateEventId, EventData, ExpectedRevision, NO_STREAM, WrongExpectedRevision } from './event-store.port';

export interface StoredEventRef {
  readonly streamId: string;
  readonly revision: number;
  readonly position: number;
}

/**
 * Recognises a retried append: the same event ids, already stored in this stream at exactly the revisions this
 * append would have given them. Returns the original result, or undefined when the append is new. Shared by
 * every adapter so that "idempotent retry" means one thing.
 */
export const recognisedRetry = (
  streamId: string,
  events: readonly EventData[],
  expected: ExpectedRevision,
  current: number | typeof NO_STREAM,
  find: (eventId: string) => StoredEventRef | undefined,
): AppendResult | undefined => {
  const first = find((events[0] as EventData).eventId);
  if (!first) return undefined;
  const firstRevision = expected === NO_STREAM ? 0 : expected + 1;
  let last = first;
  for (let i = 0; i < events.length; i++) {
    const stored = i === 0 ? first : find((events[i] as EventData).eventId);
    if (!stored || stored.streamId !== streamId || stored.revision !== firstRevision + i) {
      // Stored, but not as this same append would have stored it: a reused id, not a retry.
      if (stored) throw new DuplicateEventId((events[i] as EventData).eventId);
      throw new WrongExpectedRevision(streamId, expected, current);
    }
    last = stored;
  }
  return { nextExpectedRevision: last.revision, position: last.position };
};

export const assertAppendable = (events: readonly EventData[]): void => {
  if (events.length === 0) throw new TypeError('append needs at least one event');
};
