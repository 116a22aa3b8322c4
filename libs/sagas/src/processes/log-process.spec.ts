import { DomainEvent } from '@flash/domain';
import pino from 'pino';
import { PendingItem } from '../pending-work';
import { PendingWorkProcess, TICK_CONCURRENCY } from './log-process';

/** Work that stays in flight until released by the test, counting how much of it runs at once. */
class GatedProcess extends PendingWorkProcess<null> {
  readonly name = 'gated';
  inFlight = 0;
  mostInFlight = 0;
  done = 0;

  constructor() {
    super(pino({ level: 'silent' }));
  }

  add(key: string, position: number): void {
    this.pending.add(key, position, 0, null);
  }

  apply(_event: DomainEvent): void {}

  protected async work(_item: PendingItem<null>): Promise<'done'> {
    this.inFlight++;
    this.mostInFlight = Math.max(this.mostInFlight, this.inFlight);
    // Two turns of the event loop: a group's items are all started before any of them ends.
    await new Promise((resolve) => setImmediate(resolve));
    this.inFlight--;
    this.done++;
    return 'done';
  }
}

describe('PendingWorkProcess: a tick over a large backlog', () => {
  it('does every due item, never more than TICK_CONCURRENCY at once (a replay from 0 leaves hundreds of thousands)', async () => {
    const process = new GatedProcess();
    const ITEMS = TICK_CONCURRENCY * 10 + 7;
    for (let i = 0; i < ITEMS; i++) process.add(`r-${i}`, i + 1);

    await process.tick(1_000);

    expect(process.done).toBe(ITEMS);
    expect(process.mostInFlight).toBe(TICK_CONCURRENCY);
    expect(process.status(1_000).backlog).toBe(0);
    expect(process.lowWater()).toBeUndefined();
  });
});
