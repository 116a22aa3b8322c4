import { DocumentIncrement, DocumentStore } from '../document-store';
import { RoomWaitLog, summariseWaits, waitBucket } from './room-waits';

/** A store that keeps the increments it is given and answers `aggregate` from them ($match on saleId only). */
const memoryStore = () => {
  const docs = new Map<string, Record<string, unknown>>();
  const store = {
    increment: async (batch: readonly DocumentIncrement[]) => {
      for (const i of batch) {
        const doc = docs.get(i.id) ?? { ...i.setOnInsert, count: 0 };
        doc.count = (doc.count as number) + (i.inc.count ?? 0);
        docs.set(i.id, doc);
      }
    },
    aggregate: async (_collection: string, pipeline: [{ $match: { saleId: string } }]) => ({
      rows: [...docs.values()].filter((d) => d.saleId === pipeline[0].$match.saleId),
    }),
  };
  return store as unknown as DocumentStore;
};

const LIMITS = { maxRows: 1000, maxTimeMs: 1000 };

describe('RoomWaitLog: the waiting room wait percentiles, from every process', () => {
  it('keeps two significant figures of a wait, rounded down', () => {
    expect([0, 87, 99.9, 100, 1234, 56_789, 3_600_000].map(waitBucket)).toEqual([0, 87, 99, 100, 1200, 56_000, 3_600_000]);
  });

  it('reads the median and the p99 by nearest rank', () => {
    const buckets = Array.from({ length: 100 }, (_, i) => ({ ms: (i + 1) * 10, count: 1 }));
    expect(summariseWaits(buckets)).toEqual({ admitted: 100, waitMs: { p50: 500, p99: 990 } });
    expect(summariseWaits([])).toBeUndefined();
  });

  it('adds up the waits two processes recorded, flushed or not', async () => {
    const docs = memoryStore();
    const [a, b] = [new RoomWaitLog(docs), new RoomWaitLog(docs)];
    for (let i = 1; i <= 98; i++) (i % 2 === 0 ? a : b).record('s1', 1000);
    a.record('s1', 50_000);
    b.record('s1', 90_000);
    b.record('s2', 5);
    await a.flush();
    await b.flush();
    expect(await a.summary('s1', LIMITS)).toEqual({ admitted: 100, waitMs: { p50: 1000, p99: 50_000 } });
    // Not flushed yet: still counted by the process that recorded it.
    a.record('s1', 90_000);
    a.record('s1', 90_000);
    expect(await a.summary('s1', LIMITS)).toEqual({ admitted: 102, waitMs: { p50: 1000, p99: 90_000 } });
    expect(await b.summary('s2', LIMITS)).toEqual({ admitted: 1, waitMs: { p50: 5, p99: 5 } });
    expect(await b.summary('s3', LIMITS)).toBeUndefined();
  });

  it('keeps the counts of a failed flush for the next one', async () => {
    const docs = memoryStore();
    let fail = true;
    const flaky = { ...docs, increment: (batch: readonly DocumentIncrement[]) => (fail ? Promise.reject(new Error('down')) : docs.increment(batch)), aggregate: docs.aggregate.bind(docs) };
    const log = new RoomWaitLog(flaky);
    log.record('s1', 700);
    await expect(log.flush()).rejects.toThrow('down');
    fail = false;
    await log.flush();
    expect(await new RoomWaitLog(docs).summary('s1', LIMITS)).toEqual({ admitted: 1, waitMs: { p50: 700, p99: 700 } });
  });
});
