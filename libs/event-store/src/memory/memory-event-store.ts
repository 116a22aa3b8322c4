import { assertAppendable, recognisedRetry, StoredEventRef } from '../idempotent-append';
import { AppendSignal, catchUpSubscription } from '../catch-up-subscription';
import {
  AppendResult,
  DuplicateEventId,
  EventData,
  EventStore,
  ExpectedRevision,
  NO_STREAM,
  ReadAllOptions,
  RecordedEvent,
  Subscription,
  WrongExpectedRevision,
} from '../event-store.port';

/** In-memory adapter: same contract as the durable ones, nothing survives the process. For tests and benchmarks. */
export class MemoryEventStore implements EventStore {
  /** Positions are 1, 2, 3, … with no gap. */
  readonly densePositions = true;
  private readonly log: RecordedEvent[] = [];
  private readonly streams = new Map<string, RecordedEvent[]>();
  private readonly byEventId = new Map<string, StoredEventRef>();
  private readonly appended = new AppendSignal();
  private readonly subscriptions = new Set<Subscription>();

  constructor(private readonly now: () => number = Date.now) {}

  async append(streamId: string, events: readonly EventData[], expected: ExpectedRevision): Promise<AppendResult> {
    assertAppendable(events);
    const stream = this.streams.get(streamId) ?? [];
    const current = stream.length === 0 ? NO_STREAM : stream.length - 1;
    const retry = recognisedRetry(streamId, events, expected, current, (id) => this.byEventId.get(id));
    if (retry) return retry;
    if (expected !== current) throw new WrongExpectedRevision(streamId, expected, current);
    const ids = new Set<string>();
    for (const e of events) {
      if (this.byEventId.has(e.eventId) || ids.has(e.eventId)) throw new DuplicateEventId(e.eventId);
      ids.add(e.eventId);
    }

    const recordedAt = this.now();
    for (const e of events) {
      const recorded: RecordedEvent = {
        ...structuredClone(e),
        streamId,
        revision: stream.length,
        position: this.log.length + 1,
        recordedAt,
      };
      stream.push(recorded);
      this.log.push(recorded);
      this.byEventId.set(e.eventId, recorded);
    }
    this.streams.set(streamId, stream);
    this.appended.notify();
    const last = stream[stream.length - 1] as RecordedEvent;
    return { nextExpectedRevision: last.revision, position: last.position };
  }

  async readStream(streamId: string, fromRevision = 0): Promise<RecordedEvent[]> {
    return structuredClone((this.streams.get(streamId) ?? []).slice(fromRevision));
  }

  async readAll({ after, maxCount }: ReadAllOptions): Promise<RecordedEvent[]> {
    return structuredClone(this.log.slice(after, after + maxCount));
  }

  async headPosition(): Promise<number> {
    return this.log.length;
  }

  whenDurable(_position: number): Promise<void> {
    return Promise.resolve();
  }

  subscribeToAll(after: number): Subscription {
    const subscription = catchUpSubscription({ readAll: (o) => this.readAll(o), waitForAppend: () => this.appended.wait() }, after);
    this.subscriptions.add(subscription);
    return subscription;
  }

  async close(): Promise<void> {
    for (const s of this.subscriptions) s.close();
  }
}
