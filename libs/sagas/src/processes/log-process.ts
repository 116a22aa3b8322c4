import { DomainEvent } from '@flash/domain';
import { Logger } from 'pino';
import { PendingItem, PendingWork } from '../pending-work';

/** A saga / process manager fed from the global log: it derives pending work from events and does it on ticks. */
export interface LogProcess {
  readonly name: string;
  apply(event: DomainEvent, position: number): void;
  tick(now: number): Promise<void>;
  /** Smallest position this process must replay from to rebuild its pending work; undefined if none. */
  lowWater(): number | undefined;
  status(now: number): { backlog: number; overdueMs: number };
}

/**
 * The shape every saga here shares: events add or remove pending items; a tick does the due ones concurrently
 * (the shard writers batch them); an item whose work fails or is not finished is retried with backoff.
 */
export abstract class PendingWorkProcess<T> implements LogProcess {
  abstract readonly name: string;
  protected readonly pending = new PendingWork<T>();

  constructor(protected readonly logger: Logger) {}

  abstract apply(event: DomainEvent, position: number): void;

  /** One item's work: 'done' drops it, 'retry' keeps it for a later tick. Throwing retries too. */
  protected abstract work(item: PendingItem<T>, now: number): Promise<'done' | 'retry'>;

  async tick(now: number): Promise<void> {
    await Promise.all(
      this.pending.due(now).map(async (item) => {
        try {
          if ((await this.work(item, now)) === 'done') this.pending.remove(item.key);
          else this.pending.retryLater(item, now);
        } catch (error) {
          this.logger.warn({ err: error, process: this.name, key: item.key }, 'saga work not done yet; will retry');
          this.pending.retryLater(item, now);
        }
      }),
    );
  }

  lowWater(): number | undefined {
    return this.pending.lowWater();
  }

  status(now: number) {
    return { backlog: this.pending.size, overdueMs: this.pending.overdueMs(now) };
  }
}
