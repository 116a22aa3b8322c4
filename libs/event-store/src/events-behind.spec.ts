import { RecordedEvent } from './event-store.port';
import { eventsBehind, LagCounters } from './events-behind';

/** A log of `count` events whose positions are 10, 20, 30, …: sparse, like EventStoreDB's log offsets. */
const sparseLog = (count: number) => {
  const events = Array.from({ length: count }, (_, i): RecordedEvent => ({
    eventId: `e${i}`,
    type: 'Tested',
    data: {},
    metadata: { schemaVersion: 1 },
    streamId: 's',
    revision: i,
    position: (i + 1) * 10,
    recordedAt: 0,
  }));
  return {
    reads: 0,
    readAll({ after, maxCount }: { after: number; maxCount: number }) {
      this.reads++;
      return Promise.resolve(events.filter((e) => e.position > after).slice(0, maxCount));
    },
  };
};

describe('eventsBehind', () => {
  it('on a dense store is the subtraction, without reading', async () => {
    const store = { densePositions: true, readAll: () => Promise.reject(new Error('must not read')) };
    expect(await eventsBehind(store, 40, 100)).toBe(60);
    expect(await eventsBehind(store, 100, 100)).toBe(0);
  });

  it('on a sparse store counts the events between the position and the head, not the difference of positions', async () => {
    const store = sparseLog(50);
    expect(await eventsBehind(store, 100, 300)).toBe(20); // positions 110..300
    expect(await eventsBehind(store, 0, 500)).toBe(50);
    expect(await eventsBehind(store, 500, 500)).toBe(0);
  });

  it('stops counting at the cap, page by page', async () => {
    const store = sparseLog(2500);
    expect(await eventsBehind(store, 0, 25_000, 1500)).toBe(1500);
    expect(store.reads).toBe(2);
    expect(await eventsBehind(store, 0, 25_000, 10_000)).toBe(2500);
  });
});

describe('LagCounters: a probe or a scrape asked often', () => {
  it('on a sparse store shares one count between concurrent askers and reuses it for a while, per follower', async () => {
    const store = sparseLog(100);
    let now = 1_000;
    const counters = new LagCounters(store, 5000, () => now);
    const [a, b] = await Promise.all([counters.count('catalog', 0, 1000), counters.count('catalog', 0, 1000)]);
    expect([a, b]).toEqual([100, 100]);
    expect(store.reads).toBe(1);
    // A few seconds later the answer is the one counted: no read.
    now += 4000;
    expect(await counters.count('catalog', 500, 1000)).toBe(100);
    expect(store.reads).toBe(1);
    // Another follower has its own count.
    expect(await counters.count('sagas', 500, 1000)).toBe(50);
    expect(store.reads).toBe(2);
    // Once old, counted again.
    now += 2000;
    expect(await counters.count('catalog', 500, 1000)).toBe(50);
    expect(store.reads).toBe(3);
  });

  it('on a dense store subtracts, always fresh; caught up is 0 without a read', async () => {
    const store = { densePositions: true, readAll: () => Promise.reject(new Error('must not read')) };
    const counters = new LagCounters(store);
    expect(await counters.count('catalog', 40, 100)).toBe(60);
    expect(await counters.count('catalog', 90, 100)).toBe(10);
    expect(await new LagCounters(sparseLog(5)).count('catalog', 50, 50)).toBe(0);
  });
});
