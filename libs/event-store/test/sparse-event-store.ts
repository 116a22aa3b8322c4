/**
 * Test support: any EventStore seen through SPARSE positions, as EventStoreDB gives them (log offsets): the inner
 * store's position p shows as p × STRIDE + OFFSET. Lets the consumers of positions (lag, progress, checkpoints) and
 * the contract's sparse mode be tested without a server.
 */
import { AppendOptions, AppendResult, EventData, EventStore, ExpectedRevision, ReadAllOptions, RecordedEvent, SubscribeOptions, Subscription } from '../src/event-store.port';

export const STRIDE = 173;
const OFFSET = 40;

const out = (position: number): number => (position === 0 ? 0 : position * STRIDE + OFFSET);
/** The inner position of the last event at or before a sparse `position` (0 before the first). */
const back = (position: number): number => (position < STRIDE + OFFSET ? 0 : Math.floor((position - OFFSET) / STRIDE));
const sparse = (event: RecordedEvent): RecordedEvent => ({ ...event, position: out(event.position) });

export class SparseEventStore implements EventStore {
  readonly densePositions = false;

  constructor(readonly inner: EventStore) {}

  async append(streamId: string, events: readonly EventData[], expectedRevision: ExpectedRevision, options?: AppendOptions): Promise<AppendResult> {
    const result = await this.inner.append(streamId, events, expectedRevision, options);
    return { ...result, position: out(result.position) };
  }

  async readStream(streamId: string, fromRevision?: number): Promise<RecordedEvent[]> {
    return (await this.inner.readStream(streamId, fromRevision)).map(sparse);
  }

  async readAll({ after, maxCount }: ReadAllOptions): Promise<RecordedEvent[]> {
    return (await this.inner.readAll({ after: back(after), maxCount })).map(sparse);
  }

  async headPosition(): Promise<number> {
    return out(await this.inner.headPosition());
  }

  whenDurable(position: number): Promise<void> {
    return this.inner.whenDurable(back(position));
  }

  subscribeToAll(after: number, options?: SubscribeOptions): Subscription {
    const subscription = this.inner.subscribeToAll(back(after), options);
    return {
      close: () => subscription.close(),
      [Symbol.asyncIterator]: () => {
        const iterator = subscription[Symbol.asyncIterator]();
        return {
          next: async () => {
            const result = await iterator.next();
            return result.done === true ? result : { done: false, value: sparse(result.value) };
          },
          return: async () => {
            subscription.close();
            return { done: true, value: undefined };
          },
        };
      },
    };
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
