import { DomainEvent } from '@flash/domain';
import { EventLoopSlices } from '@flash/event-store';
import { Logger } from 'pino';
import { PendingItem, PendingWork } from '../pending-work';

/** A saga / process manager fed from the global log: it derives pending work from events and does it on ticks. */
export interface LogProcess {
  readonly name: string;
  /**
   * Whether its work may be done while the log is still being replayed (see LogFollower): true when an item is
   * right to do as soon as its event is read, whatever the log holds after it, so its backlog never grows with the
   * history replayed. False (the default) for work a later event may cancel (a hold paid after its deadline was set).
   */
  readonly worksWhileReplaying?: boolean;
  apply(event: DomainEvent, position: number): void;
  tick(now: number): Promise<void>;
  /** Smallest position this process must replay from to rebuild its pending work; undefined if none. */
  lowWater(): number | undefined;
  status(now: number): { backlog: number; overdueMs: number };
}

/**
 * Due items worked at once by one tick. Enough for the shard writers to batch them; few enough that the backlog a
 * replay from 0 leaves (on a 1.1M-event log, ~240k gate releases) is not an async frame, a promise and a closure per
 * item in the heap at once: done all together, that burst alone overran the api's 256 MB heap (bench row 9).
 */
export const TICK_CONCURRENCY = 256;

/**
 * The shape every saga here shares: events add or remove pending items; a tick does the due ones, TICK_CONCURRENCY at
 * a time (the shard writers batch them), letting the event loop run between groups once a slice is spent; an item
 * whose work fails or is not finished is retried with backoff.
 */
export abstract class PendingWorkProcess<T> implements LogProcess {
  abstract readonly name: string;
  protected readonly pending = new PendingWork<T>();

  constructor(protected readonly logger: Logger) {}

  abstract apply(event: DomainEvent, position: number): void;

  /** One item's work: 'done' drops it, 'retry' keeps it for a later tick. Throwing retries too. */
  protected abstract work(item: PendingItem<T>, now: number): Promise<'done' | 'retry'>;

  async tick(now: number): Promise<void> {
    const due = this.pending.due(now);
    // The clock is read after every group: a group is already TICK_CONCURRENCY items.
    const slices = new EventLoopSlices(20, 1);
    for (let from = 0; from < due.length; from += TICK_CONCURRENCY) {
      await Promise.all(due.slice(from, from + TICK_CONCURRENCY).map((item) => this.workOne(item, now)));
      if (slices.due()) await slices.yield();
    }
  }

  private async workOne(item: PendingItem<T>, now: number): Promise<void> {
    // Listed when the tick began, removed since by an event applied while earlier groups ran (a hold paid, an order
    // cancelled): its work is no longer due.
    if (!this.pending.has(item.key)) return;
    try {
      if ((await this.work(item, now)) === 'done') this.pending.remove(item.key);
      else this.pending.retryLater(item, now);
    } catch (error) {
      this.logger.warn({ err: error, process: this.name, key: item.key }, 'saga work not done yet; will retry');
      this.pending.retryLater(item, now);
    }
  }

  lowWater(): number | undefined {
    return this.pending.lowWater();
  }

  status(now: number) {
    return { backlog: this.pending.size, overdueMs: this.pending.overdueMs(now) };
  }
}
