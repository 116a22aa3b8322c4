import { DomainEvent } from '@flash/domain';
import { AppendDurability, CommandMetadata, encodeEvent, EventStore, LoadedStream, loadStream, WrongExpectedRevision } from '@flash/event-store';

export interface StreamCommand<S, E extends DomainEvent> {
  readonly streamId: string;
  readonly evolve: (state: S, event: E) => S;
  readonly initial: S;
  /** The decider's `decide`, bound to its command and time: no events means nothing to record. */
  readonly decide: (state: S) => E[];
  readonly metadata: CommandMetadata;
  /** 'durable' unless said otherwise (see the store port). */
  readonly durability?: AppendDurability;
  /** The stream as the caller already holds it, saving the first read; re-read after a conflict. */
  readonly loaded?: LoadedStream<S>;
  /** Errors after which the stream is read again and the command decided again; WrongExpectedRevision by default. */
  readonly isConflict?: (error: unknown) => boolean;
  /** Looks at the re-read stream after a conflict, before deciding again: may throw the answer instead. */
  readonly afterConflict?: (error: unknown, reread: LoadedStream<S>) => void;
  /** Called just before an append (e.g. to index a claimant before the log can show it). */
  readonly beforeAppend?: (events: readonly E[]) => void;
  readonly maxAttempts?: number;
  /** What to throw when every attempt met a conflict. */
  readonly exhausted: () => Error;
}

export interface Decided<S, E> {
  readonly state: S;
  /** What this call appended; [] when the decision was already recorded (or needed nothing). */
  readonly events: readonly E[];
  /** Global position of the last event appended, or of the stream's last event when nothing was. */
  readonly position: number;
}

const DEFAULT_ATTEMPTS = 8;
const isWrongRevision = (error: unknown): boolean => error instanceof WrongExpectedRevision;

/**
 * The command loop of every event-sourced use case on one stream: read, fold, decide, append with the exact
 * revision decided on; on a conflict, read again and decide again (deciders are idempotent, so what did land is
 * not redone). The shard writers batch many commands per append and have their own loop; everything else uses this.
 */
export const decideAndAppend = async <S, E extends DomainEvent>(store: EventStore, command: StreamCommand<S, E>): Promise<Decided<S, E>> => {
  const { streamId, evolve, initial, decide, metadata } = command;
  const isConflict = command.isConflict ?? isWrongRevision;
  let stream = command.loaded ?? (await loadStream(store, streamId, evolve, initial));
  for (let attempt = 1; attempt <= (command.maxAttempts ?? DEFAULT_ATTEMPTS); attempt++) {
    const events = decide(stream.state);
    if (events.length === 0) return { state: stream.state, events, position: stream.position };
    try {
      command.beforeAppend?.(events);
      const result = await store.append(
        streamId,
        events.map((e) => encodeEvent(streamId, e, metadata)),
        stream.expectedRevision,
        command.durability === undefined ? undefined : { durability: command.durability },
      );
      return { state: events.reduce(evolve, stream.state), events, position: result.position };
    } catch (error) {
      if (!isConflict(error)) throw error;
      stream = await loadStream(store, streamId, evolve, initial);
      command.afterConflict?.(error, stream);
    }
  }
  throw command.exhausted();
};
