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

describe('catchUpSubscription with followEveryMs', () => {
  afterEach(() => jest.useRealTimers());

  it('at the head reads at most once per interval however often the log is appended to, and misses nothing', async () => {
    jest.useFakeTimers({ now: 0 });
    const log = new CountedLog();
    const subscription = catchUpSubscription(log.source, 0, { followEveryMs: 200, now: () => Date.now() });
    const iterator = subscription[Symbol.asyncIterator]();
    const seen: number[] = [];
    const consuming = (async () => {
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) seen.push(next.value.position);
    })();
    // An append every 10 ms for a second: 100 commits.
    for (let t = 0; t < 1000; t += 10) {
      log.append(1);
      await jest.advanceTimersByTimeAsync(10);
    }
    await jest.advanceTimersByTimeAsync(400);
    expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    // The first read, then one per 200 ms at most over 1.4 s.
    expect(log.reads).toBeLessThanOrEqual(1 + 7);
    subscription.close();
    await consuming;
  });

  it('catches up without pause: full pages are read one after the other', async () => {
    jest.useFakeTimers({ now: 0 });
    const log = new CountedLog();
    log.append(3500);
    const subscription = catchUpSubscription(log.source, 0, { followEveryMs: 60_000, now: () => Date.now() });
    const iterator = subscription[Symbol.asyncIterator]();
    expect((await take(iterator, 3500)).at(-1)).toBe(3500);
    expect(log.reads).toBe(4);
    subscription.close();
  });

  it('a wall clock set back does not stall it: the pause is never longer than the interval', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const log = new CountedLog();
    let skew = 0;
    const subscription = catchUpSubscription(log.source, 0, { followEveryMs: 100, now: () => Date.now() - skew });
    const iterator = subscription[Symbol.asyncIterator]();
    let delivered = 0;
    const consuming = (async () => {
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) delivered = next.value.position;
    })();
    log.append(1);
    await jest.advanceTimersByTimeAsync(150);
    expect(delivered).toBe(1);
    skew = 60_000; // the clock goes back a minute
    log.append(1);
    await jest.advanceTimersByTimeAsync(150);
    expect(delivered).toBe(2);
    subscription.close();
    await consuming;
  });
});

describe('catchUpSubscription.hurry', () => {
  afterEach(() => jest.useRealTimers());

  /** The consumer's last delivered position, kept up to date by a loop over the subscription. */
  const follow = (subscription: ReturnType<typeof catchUpSubscription>): { delivered: () => number; done: Promise<void> } => {
    let delivered = 0;
    const iterator = subscription[Symbol.asyncIterator]();
    const done = (async () => {
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) delivered = next.value.position;
    })();
    return { delivered: () => delivered, done };
  };

  it('reads at once, neither waiting out the pace nor the wake-up (an append whose notification has not come yet)', async () => {
    jest.useFakeTimers({ now: 0 });
    const log = new CountedLog();
    log.append(1);
    const subscription = catchUpSubscription(log.source, 0, { followEveryMs: 60_000, now: () => Date.now() });
    const consumer = follow(subscription);
    await jest.advanceTimersByTimeAsync(1);
    expect(consumer.delivered()).toBe(1);
    log.events.push(recorded(2)); // another process's commit: no wake-up here yet
    await jest.advanceTimersByTimeAsync(1000);
    expect(consumer.delivered()).toBe(1);
    subscription.hurry();
    await jest.advanceTimersByTimeAsync(1);
    expect(consumer.delivered()).toBe(2);
    // Appended and notified right after: the pace holds again, the hurry was spent on the read it asked for.
    log.append(1);
    await jest.advanceTimersByTimeAsync(1000);
    expect(consumer.delivered()).toBe(2);
    await jest.advanceTimersByTimeAsync(60_000);
    expect(consumer.delivered()).toBe(3);
    subscription.close();
    await consumer.done;
  });

  it('asked during a read, reads once more right after it: that read may have been taken before what the caller waits for', async () => {
    jest.useFakeTimers({ now: 0 });
    const log = new CountedLog();
    let release: (() => void) | undefined;
    const slowSource = {
      readAll: async (options: { after: number; maxCount: number }): Promise<RecordedEvent[]> => {
        const page = await log.source.readAll(options); // what the log holds when the read is made
        await new Promise<void>((resolve) => (release = resolve));
        return page;
      },
      waitForAppend: log.source.waitForAppend,
    };
    const subscription = catchUpSubscription(slowSource, 0, { followEveryMs: 60_000, now: () => Date.now() });
    const consumer = follow(subscription);
    await jest.advanceTimersByTimeAsync(1);
    release?.(); // the first read: an empty log
    await jest.advanceTimersByTimeAsync(1);
    log.events.push(recorded(1));
    subscription.hurry();
    await jest.advanceTimersByTimeAsync(1); // the hurried read is in flight, and holds event 1
    log.events.push(recorded(2));
    subscription.hurry(); // about event 2, which that read does not hold
    release?.();
    await jest.advanceTimersByTimeAsync(1);
    expect(consumer.delivered()).toBe(1);
    release?.();
    await jest.advanceTimersByTimeAsync(1);
    expect(consumer.delivered()).toBe(2);
    expect(log.reads).toBe(3);
    subscription.close();
    release?.();
    await consumer.done;
  });
});
