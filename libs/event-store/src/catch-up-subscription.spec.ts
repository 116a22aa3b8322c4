import { AppendSignal, catchUpSubscription, RecordedEvent } from '@flash/event-store';

const recorded = (position: number): RecordedEvent => ({
  eventId: `00000000-0000-4000-8000-${String(position).padStart(12, '0')}`,
  type: 'Tested',
  data: {},
  metadata: { schemaVersion: 1 },
  streamId: `s-${position}`,
  revision: 0,
  position,
  recordedAt: 0,
});

/** A log in memory, its reads counted, with the wake-up a store gives its followers after each append. */
class CountedLog {
  readonly events: RecordedEvent[] = [];
  readonly signal = new AppendSignal();
  reads = 0;

  append(count: number): void {
    for (let i = 0; i < count; i++) this.events.push(recorded(this.events.length + 1));
    this.signal.notify();
  }

  readonly source = {
    readAll: async ({ after, maxCount }: { after: number; maxCount: number }): Promise<RecordedEvent[]> => {
      this.reads++;
      return this.events.filter((e) => e.position > after).slice(0, maxCount);
    },
    waitForAppend: () => this.signal.wait(),
  };
}

const take = async (iterator: AsyncIterator<RecordedEvent>, count: number): Promise<number[]> => {
  const positions: number[] = [];
  for (let i = 0; i < count; i++) positions.push(((await iterator.next()) as IteratorYieldResult<RecordedEvent>).value.position);
  return positions;
};

const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

describe('catchUpSubscription', () => {
  it('reads a short page once: after delivering it, it waits for an append instead of reading the head again', async () => {
    const log = new CountedLog();
    log.append(3);
    const subscription = catchUpSubscription(log.source, 0);
    const iterator = subscription[Symbol.asyncIterator]();
    expect(await take(iterator, 3)).toEqual([1, 2, 3]);
    const waiting = iterator.next();
    await turns(5);
    expect(log.reads).toBe(1);

    log.append(2);
    expect(((await waiting) as IteratorYieldResult<RecordedEvent>).value.position).toBe(4);
    expect(await take(iterator, 1)).toEqual([5]);
    expect(log.reads).toBe(2);
    subscription.close();
    expect((await iterator.next()).done).toBe(true);
  });

  it('misses nothing appended while it was delivering a short page: the wake-up was armed before the read', async () => {
    const log = new CountedLog();
    log.append(2);
    const subscription = catchUpSubscription(log.source, 0);
    const iterator = subscription[Symbol.asyncIterator]();
    expect(await take(iterator, 1)).toEqual([1]);
    log.append(1); // after the read, before the follower asked for the rest
    expect(await take(iterator, 2)).toEqual([2, 3]);
    subscription.close();
  });

  it('reads on at once after a full page (a catch-up), and ends when closed while it waits at the head', async () => {
    const log = new CountedLog();
    log.append(2500);
    const subscription = catchUpSubscription(log.source, 0);
    const iterator = subscription[Symbol.asyncIterator]();
    const positions = await take(iterator, 2500);
    expect(positions[2499]).toBe(2500);
    expect(log.reads).toBe(3);
    const waiting = iterator.next();
    await turns(3);
    subscription.close();
    expect((await waiting).done).toBe(true);
    expect(log.reads).toBe(3);
  });
});
