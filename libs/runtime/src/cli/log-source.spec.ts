import path from 'node:path';
import { LogEvent, LogPage, LogPageRequest, MemoryEventStore, NO_STREAM } from '@flash/event-store';
import { readLog, resolveDataDir, scanLog } from './log-source';

const appendEvents = async (store: MemoryEventStore, count: number, streamId = 'stream-1'): Promise<void> => {
  const current = (await store.readStream(streamId)).length;
  const events = Array.from({ length: count }, (_, i) => ({ eventId: `${streamId}-${current + i}`, type: 'Something', data: { i }, metadata: { schemaVersion: 1 } }));
  await store.append(streamId, events, current === 0 ? NO_STREAM : current - 1);
};

const collect = async (pages: AsyncIterable<ReadonlyArray<{ position: number }>>): Promise<number[][]> => {
  const positions: number[][] = [];
  for await (const page of pages) positions.push(page.map((e) => e.position));
  return positions;
};

describe('reading the log', () => {
  it('streams the log in pages, in position order, up to the given head and no further', async () => {
    const store = new MemoryEventStore();
    await appendEvents(store, 7);
    const head = await store.headPosition();
    await appendEvents(store, 2, 'stream-2'); // appended after the audit took its head

    expect(await collect(readLog(store, head, 3))).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  });

  it('scans the reader\'s pages from the start up to the given head, leaving out empty ones', async () => {
    const event = (position: number): LogEvent => ({ position, streamId: 's', revision: position - 1, eventId: `e${String(position)}`, type: 'T', data: {}, schemaVersion: 1, recordedAt: 0 });
    const asked: Array<[number, number, number]> = [];
    const pages: LogPage[] = [
      { events: [event(1), event(2)], through: 2 },
      { events: [], through: 4 },
      { events: [event(5)], through: 5 },
    ];
    const reader = {
      readPage: ({ after, upTo, maxCount }: LogPageRequest): Promise<LogPage> => {
        asked.push([after, upTo, maxCount]);
        return Promise.resolve(pages.shift() ?? { events: [], through: after });
      },
    };
    expect(await collect(scanLog(reader, 5, 2))).toEqual([[1, 2], [5]]);
    expect(asked).toEqual([
      [0, 5, 2],
      [2, 5, 2],
      [4, 5, 2],
    ]);
  });

  it('reads nothing from an empty log', async () => {
    expect(await collect(readLog(new MemoryEventStore(), 0, 3))).toEqual([]);
  });

  it('takes --data-dir first, then DATA_DIR, then ./data', () => {
    expect(resolveDataDir('/flag', { DATA_DIR: '/env' })).toBe('/flag');
    expect(resolveDataDir(undefined, { DATA_DIR: '/env' })).toBe('/env');
    expect(resolveDataDir(undefined, {})).toBe(path.resolve('data'));
  });
});
