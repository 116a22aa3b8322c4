import { DomainEvent } from '@flash/domain';

/** A saga / process manager fed from the global log: it derives pending work from events and does it on ticks. */
export interface LogProcess {
  readonly name: string;
  apply(event: DomainEvent, position: number): void;
  tick(now: number): Promise<void>;
  /** Smallest position this process must replay from to rebuild its pending work; undefined if none. */
  lowWater(): number | undefined;
  status(now: number): { backlog: number; overdueMs: number };
}
