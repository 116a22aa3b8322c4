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

  /** What an event that cancels an item does (a payment before its hold's deadline). */
  cancel(key: string): void {
    this.pending.remove(key);
  }

  readonly worked: string[] = [];

  apply(_event: DomainEvent): void {}

  protected async work(item: PendingItem<null>): Promise<'done'> {
    this.worked.push(item.key);
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

  it('skips an item an event removed while the earlier groups of the same tick were worked', async () => {
    const process = new GatedProcess();
    const ITEMS = TICK_CONCURRENCY * 2;
    for (let i = 0; i < ITEMS; i++) process.add(`r-${i}`, i + 1);
    const last = `r-${ITEMS - 1}`;

    const ticked = process.tick(1_000);
    // The first group is in flight (its work awaits): an event applied now removes an item of the second group.
    expect(process.inFlight).toBe(TICK_CONCURRENCY);
    process.cancel(last);
    await ticked;

    expect(process.worked).not.toContain(last);
    expect(process.done).toBe(ITEMS - 1);
  });
});
