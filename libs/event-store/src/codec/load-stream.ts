import { DomainEvent } from '@flash/domain';
import { EventStore, ExpectedRevision, NO_STREAM } from '../event-store.port';
import { decodeEvent } from './domain-event-codec';

export interface LoadedStream<S> {
  readonly state: S;
  /** The revision to expect when appending the next decision. */
  readonly expectedRevision: ExpectedRevision;
  /** Global position of the stream's last event (0 for a new stream). */
  readonly position: number;
}

/** Reads a stream and folds it with its decider's `evolve`: the "read, fold" half of the command loop. */
// E names which events the stream holds; the decoded events are trusted to be of the stream's decider.
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
export const loadStream = async <S, E extends DomainEvent>(
  store: EventStore,
  streamId: string,
  evolve: (state: S, event: E) => S,
  initial: S,
): Promise<LoadedStream<S>> => {
  const recorded = await store.readStream(streamId);
  let state = initial;
  for (const r of recorded) state = evolve(state, decodeEvent(r) as E);
  const last = recorded[recorded.length - 1];
  return { state, expectedRevision: last ? last.revision : NO_STREAM, position: last ? last.position : 0 };
};
