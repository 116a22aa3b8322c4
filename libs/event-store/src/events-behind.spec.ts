import { RecordedEvent } from './event-store.port';
import { eventsBehind } from './events-behind';

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
