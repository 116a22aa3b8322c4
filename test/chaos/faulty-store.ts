import {
  AppendOptions,
  AppendResult,
  EventData,
  EventStore,
  ExpectedRevision,
} from '@flash/event-store';
import { ForwardingEventStore } from '../../libs/sagas/test/saga-fixture';
import { Rng, sleep } from './rng';

export type AppendFault =
  /** The inner append succeeds, then the caller gets an error: the write landed, the caller cannot know it. */
  | 'written-then-error'
  /** The inner append is held past the client's timeout, then succeeds (the client has given up by then). */
  | 'slow-write'
  /** The append times out with nothing written. */
  | 'timeout-unwritten'
  /** The append times out for the caller, and the write still lands a little later (a timed-out request that went through). */
  | 'timeout-late-write';

export interface AppendFaultOdds {
  /** Probability of each fault per append to a faulted stream; the rest pass through untouched. */
  readonly odds: Readonly<Record<AppendFault, number>>;
  /** How long a slow or timed-out append is held. */
  readonly holdMs: readonly [number, number];
  /** Which streams are faulted (the sale stream is left alone so a sale can be created). */
  readonly streams: (streamId: string) => boolean;
}

export class InjectedStoreFault extends Error {
  constructor(
    readonly fault: AppendFault,
    streamId: string,
  ) {
    super(`injected store fault (${fault}) on append to ${streamId}`);
    this.name = 'InjectedStoreFault';
  }
}

/**
 * A decorator around the event store port: with seeded probabilities an append's outcome becomes unknown to its
 * caller (written then an error, or a timeout whose write lands later), or it is slow past the client's timeout, or
 * it times out unwritten. Reads and subscriptions pass through. Off until `enable()`.
 */
export class FaultyEventStore extends ForwardingEventStore {
  private enabled = false;
  readonly injected: Record<AppendFault, number> = { 'written-then-error': 0, 'slow-write': 0, 'timeout-unwritten': 0, 'timeout-late-write': 0 };
  private readonly late = new Set<Promise<unknown>>();

  constructor(
    inner: EventStore,
    private rng: Rng,
    private odds: AppendFaultOdds,
  ) {
    super(inner);
  }

  enable(rng?: Rng, odds?: AppendFaultOdds): void {
    if (rng) this.rng = rng;
    if (odds) this.odds = odds;
    this.enabled = true;
  }

  disable(): void {
    this.enabled = false;
  }

  get faults(): number {
    return Object.values(this.injected).reduce((a, b) => a + b, 0);
  }

  /** Resolves once every late write has landed (or failed): the store is quiet again. */
  async settled(): Promise<void> {
    while (this.late.size > 0) await Promise.allSettled([...this.late]);
  }

  private pickFault(streamId: string): AppendFault | undefined {
    if (!this.enabled || !this.odds.streams(streamId)) return undefined;
    let r = this.rng();
    for (const [fault, p] of Object.entries(this.odds.odds) as Array<[AppendFault, number]>) {
      if (r < p) return fault;
      r -= p;
    }
    return undefined;
  }

  private holdMs(): number {
    return this.rng.int(this.odds.holdMs[0], this.odds.holdMs[1]);
  }

  override async append(streamId: string, events: readonly EventData[], expected: ExpectedRevision, options?: AppendOptions): Promise<AppendResult> {
    const fault = this.pickFault(streamId);
    switch (fault) {
      case undefined:
        return this.inner.append(streamId, events, expected, options);
      case 'written-then-error': {
        await this.inner.append(streamId, events, expected, options); // a real refusal (a conflict) is passed on as it is
        this.injected[fault]++;
        throw new InjectedStoreFault(fault, streamId);
      }
      case 'slow-write': {
        this.injected[fault]++;
        await sleep(this.holdMs());
        return this.inner.append(streamId, events, expected, options);
      }
      case 'timeout-unwritten': {
        this.injected[fault]++;
        await sleep(this.holdMs());
        throw new InjectedStoreFault(fault, streamId);
      }
      case 'timeout-late-write': {
        this.injected[fault]++;
        const hold = this.holdMs();
        const write = sleep(hold + this.rng.int(1, 50))
          .then(() => this.inner.append(streamId, events, expected, options))
          .catch(() => undefined);
        this.late.add(write);
        void write.finally(() => this.late.delete(write));
        await sleep(hold);
        throw new InjectedStoreFault(fault, streamId);
      }
    }
  }

  override async close(): Promise<void> {
    await this.settled();
    await this.inner.close();
  }
}
