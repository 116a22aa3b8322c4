import Database from 'better-sqlite3';
import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuplicateEventId, EventStore, NO_STREAM, SqliteEventStore, SqliteEventStoreOptions, WrongExpectedRevision } from '@flash/event-store';
import { eventually } from '../../../../test/support/eventually';
import { eventStoreContract, expectNothingBeforeMarker, makeEvent, makeEvents, rejectionOf, streamName, SubscriptionReader } from '../../test/event-store.contract';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-event-store-'));
let fileCounter = 0;
const newFile = (): string => path.join(dir, `events-${++fileCounter}.sqlite`);

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A contract factory over files in the temp dir; `reopen` closes the store and opens the same file again. */
const sqliteFactory = (options: Omit<SqliteEventStoreOptions, 'file'>) => {
  const files = new Map<EventStore, string>();
  const openFile = (file: string): EventStore => {
    const store = new SqliteEventStore({ ...options, file });
    files.set(store, file);
    return store;
  };
  return {
    open: () => Promise.resolve(openFile(newFile())),
    reopen: async (previous: EventStore) => {
      const file = files.get(previous);
      if (file === undefined) throw new Error('not opened by this factory');
      await previous.close();
      files.delete(previous);
      return openFile(file);
    },
  };
};

// A long poll interval: within one process, live delivery must come from the in-process signal, not from polling.
eventStoreContract('sqlite', sqliteFactory({ pollMs: 60_000 }));
eventStoreContract('sqlite (coalesceAppends: false)', sqliteFactory({ pollMs: 60_000, coalesceAppends: false }));
eventStoreContract('sqlite (background WAL checkpoints)', sqliteFactory({ pollMs: 60_000, backgroundCheckpointMs: 5 }));
eventStoreContract('sqlite (WAL synced off the event loop)', sqliteFactory({ pollMs: 60_000, syncOffLoop: true, backgroundCheckpointMs: 5 }));

describe('SqliteEventStore specifics', () => {
  const stores: Array<{ close(): unknown }> = [];
  const track = <T extends { close(): unknown }>(store: T): T => {
    stores.push(store);
    return store;
  };
  afterEach(async () => {
    for (const store of stores.splice(0).reverse()) await store.close();
  });

  describe('two writers on one file (the api and the worker with WORKER=external)', () => {
    it('each shows the other\'s appends to its followers and readers, and decides on them with optimistic concurrency', async () => {
      const file = newFile();
      const api = track(new SqliteEventStore({ file, pollMs: 20, syncOffLoop: true, backgroundCheckpointMs: 5 }));
      const worker = track(new SqliteEventStore({ file, pollMs: 20, syncOffLoop: true, backgroundCheckpointMs: 5 }));
      const shard = streamName('inventory');
      const placed = await api.append(shard, makeEvents(2), NO_STREAM);
      // The worker's follower sees the api's events (synced here before they are shown) ...
      const followed = new SubscriptionReader(worker.subscribeToAll(0));
      expect((await followed.take(2)).map((e) => e.position)).toEqual([1, 2]);
      expect(await worker.headPosition()).toBe(2);
      // ... decides on them, and a writer that missed that append is refused, never overwrites it.
      const expired = await worker.append(shard, makeEvents(1, 'Expired'), placed.nextExpectedRevision);
      expect(await rejectionOf(api.append(shard, makeEvents(1), placed.nextExpectedRevision))).toBeInstanceOf(WrongExpectedRevision);
      const apiFollower = new SubscriptionReader(api.subscribeToAll(0));
      expect((await apiFollower.take(3)).map((e) => e.position)).toEqual([1, 2, expired.position]);
      expect((await api.readAll({ after: 2, maxCount: 10 })).map((e) => e.type)).toEqual(['Expired']);
      followed.subscription.close();
      apiFollower.subscription.close();
    });
  });

  describe('a read-only store on the same file', () => {
    it('sees the appends of the writer through readAll, readStream and headPosition', async () => {
      const file = newFile();
      const writer = track(new SqliteEventStore({ file, pollMs: 60_000 }));
      const streamId = streamName();
      const first = await writer.append(streamId, makeEvents(2), NO_STREAM);
      const reader = track(new SqliteEventStore({ file, readonly: true, pollMs: 20 }));

      expect(await reader.headPosition()).toBe(2);
      expect(await reader.readAll({ after: 0, maxCount: 100 })).toEqual(await writer.readAll({ after: 0, maxCount: 100 }));

      // Appends made after the reader opened are visible to it.
      await writer.append(streamId, makeEvents(3), first.nextExpectedRevision);
      await writer.append(streamName(), makeEvents(1), NO_STREAM);
      expect(await reader.headPosition()).toBe(6);
      expect(await reader.readAll({ after: 0, maxCount: 100 })).toEqual(await writer.readAll({ after: 0, maxCount: 100 }));
      expect(await reader.readStream(streamId)).toEqual(await writer.readStream(streamId));
      expect((await reader.readStream(streamId, 3)).map((e) => e.revision)).toEqual([3, 4]);
      expect(await reader.readAll({ after: 4, maxCount: 1 })).toHaveLength(1);
    });

    it('delivers the writer\'s appends to its subscriptions by polling', async () => {
      const file = newFile();
      const writer = track(new SqliteEventStore({ file, pollMs: 60_000 }));
      const streamId = streamName();
      let revision = (await writer.append(streamId, makeEvents(2), NO_STREAM)).nextExpectedRevision;
      const reader = track(new SqliteEventStore({ file, readonly: true, pollMs: 20 }));

      const subscription = new SubscriptionReader(reader.subscribeToAll(0));
      expect((await subscription.take(2)).map((e) => e.position)).toEqual([1, 2]);
      const resumed = new SubscriptionReader(reader.subscribeToAll(2));

      for (let i = 0; i < 3; i++) {
        revision = (await writer.append(streamId, makeEvents(2), revision)).nextExpectedRevision;
        await new Promise((resolve) => setTimeout(resolve, i * 15));
      }
      const live = await subscription.take(6);
      expect(live.map((e) => e.position)).toEqual([3, 4, 5, 6, 7, 8]);
      expect(live).toEqual(await writer.readAll({ after: 2, maxCount: 100 }));
      expect((await resumed.take(6)).map((e) => e.position)).toEqual([3, 4, 5, 6, 7, 8]);
      expect((await expectNothingBeforeMarker(writer, subscription, resumed)).position).toBe(9);

      await reader.close();
      expect(await subscription.drain()).toEqual([]);
      expect(await resumed.drain()).toEqual([]);
    });

    it('rejects appends and writes nothing', async () => {
      const file = newFile();
      const writer = track(new SqliteEventStore({ file }));
      const streamId = streamName();
      await writer.append(streamId, makeEvents(1), NO_STREAM);
      const reader = track(new SqliteEventStore({ file, readonly: true }));

      await rejectionOf(reader.append(streamName(), makeEvents(1), NO_STREAM));
      await rejectionOf(reader.append(streamId, makeEvents(1), 0));
      expect(await writer.headPosition()).toBe(1);
      expect(await reader.headPosition()).toBe(1);
    });
  });

  /** The head as a separate connection sees it at this instant: what is committed, not what is in flight. */
  const committedHead = (file: string) => {
    const db = track(new Database(file, { readonly: true }));
    const stmt = db.prepare<[], { head: number | null }>('SELECT max(position) AS head FROM events');
    return (): number => stmt.get()?.head ?? 0;
  };

  describe('coalesced appends', () => {

    it('appends issued in one tick to different streams all commit in one transaction, each with its own OCC outcome', async () => {
      const file = newFile();
      const seenDuringBatch: number[] = [];
      const observer: { head?: () => number } = {};
      const store = track(
        new SqliteEventStore({
          file,
          coalesceAppends: true,
          now: () => {
            if (observer.head) seenDuringBatch.push(observer.head());
            return Date.now();
          },
        }),
      );
      const contested = streamName('inventory');
      const taken = makeEvent('Taken');
      await store.append(contested, makeEvents(1), NO_STREAM);
      await store.append(streamName(), [taken], NO_STREAM);
      const head = committedHead(file);
      observer.head = head;
      expect(head()).toBe(2);

      const pipelined = streamName('pipelined');
      const requests = [
        { streamId: streamName('s0'), events: makeEvents(2), expected: NO_STREAM, ok: true },
        { streamId: streamName('s1'), events: makeEvents(1), expected: NO_STREAM, ok: true },
        { streamId: contested, events: makeEvents(1), expected: NO_STREAM, ok: false }, // conflict: exists at 0
        { streamId: streamName('s3'), events: makeEvents(3), expected: NO_STREAM, ok: true },
        { streamId: streamName('s4'), events: [makeEvent(), taken], expected: NO_STREAM, ok: false }, // duplicate id, after a fresh one
        { streamId: contested, events: makeEvents(2), expected: 0, ok: true }, // the right revision in the same batch
        { streamId: pipelined, events: makeEvents(1), expected: NO_STREAM, ok: true },
        { streamId: pipelined, events: makeEvents(1), expected: 0, ok: true }, // builds on the previous one of this batch
        { streamId: streamName('s8'), events: makeEvents(1), expected: 5, ok: false }, // missing stream
        { streamId: streamName('s9'), events: makeEvents(1), expected: NO_STREAM, ok: true },
      ] as const;

      const outcomes = await Promise.allSettled(requests.map((r) => store.append(r.streamId, r.events, r.expected)));

      expect(outcomes.map((o) => o.status)).toEqual(requests.map((r) => (r.ok ? 'fulfilled' : 'rejected')));
      const reasons = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
      expect(reasons[0]).toBeInstanceOf(WrongExpectedRevision);
      expect(reasons[0]).toMatchObject({ streamId: contested, expected: NO_STREAM, actual: 0 });
      expect(reasons[1]).toBeInstanceOf(DuplicateEventId);
      expect(reasons[1]).toMatchObject({ eventId: taken.eventId });
      expect(reasons[2]).toBeInstanceOf(WrongExpectedRevision);
      expect(reasons[2]).toMatchObject({ expected: 5, actual: NO_STREAM });

      // The successful appends, in the order they were issued, got contiguous positions after the head.
      const succeeded = requests.filter((r) => r.ok);
      const written = succeeded.flatMap((r) => r.events);
      const all = await store.readAll({ after: 2, maxCount: 100 });
      expect(all.map((e) => e.eventId)).toEqual(written.map((e) => e.eventId));
      expect(all.map((e) => e.position)).toEqual(written.map((_, i) => 3 + i));
      let end = 2;
      outcomes.forEach((o, i) => {
        if (o.status !== 'fulfilled') return;
        end += requests[i]?.events.length ?? 0;
        expect(o.value.position).toBe(end);
      });
      expect((await store.readStream(contested)).map((e) => e.revision)).toEqual([0, 1, 2]);
      expect((await store.readStream(pipelined)).map((e) => e.revision)).toEqual([0, 1]);
      expect(await store.readStream(requests[4].streamId)).toEqual([]);

      // One transaction: while the batch was being written, another connection still saw the old head.
      expect(seenDuringBatch.length).toBeGreaterThanOrEqual(succeeded.length);
      expect(new Set(seenDuringBatch)).toEqual(new Set([2]));
      expect(head()).toBe(2 + written.length);
    });

    it('without coalescing, each append is committed on its own', async () => {
      const file = newFile();
      const seen: number[] = [];
      const observer: { head?: () => number } = {};
      const store = track(
        new SqliteEventStore({
          file,
          coalesceAppends: false,
          now: () => {
            if (observer.head) seen.push(observer.head());
            return Date.now();
          },
        }),
      );
      await store.append(streamName(), makeEvents(1), NO_STREAM);
      observer.head = committedHead(file);

      const results = await Promise.all([1, 2, 3].map((n) => store.append(streamName(), makeEvents(n), NO_STREAM)));

      expect(results.map((r) => r.position)).toEqual([2, 4, 7]);
      expect(seen).toEqual([1, 2, 4]);
    });
  });

  describe('the tail of decoded events', () => {
    type Step =
      | { kind: 'append'; stream: number; count: number; stale: boolean }
      | { kind: 'retry' }
      | { kind: 'foreign'; count: number }
      | { kind: 'read'; back: number; maxCount: number };

    const step: fc.Arbitrary<Step> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), stream: fc.nat(3), count: fc.integer({ min: 1, max: 3 }), stale: fc.boolean() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('retry' as const) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('foreign' as const), count: fc.integer({ min: 1, max: 3 }) }) },
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('read' as const), back: fc.nat(12), maxCount: fc.integer({ min: 1, max: 8 }) }) },
    );

    it('readAll answers exactly what the rows hold, whatever mix of appends, conflicts, retries and other writers', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 6 }), async (steps, tailSize) => {
          const file = newFile();
          const writer = new SqliteEventStore({ file, pollMs: 60_000, tailSize });
          const foreign = new SqliteEventStore({ file, pollMs: 60_000, tailSize: 0 });
          const truth = new SqliteEventStore({ file, readonly: true, pollMs: 60_000 });
          try {
            const streams = [0, 1, 2, 3].map(() => streamName('tail'));
            const revisions = new Map<string, number | typeof NO_STREAM>();
            let last: { stream: string; events: ReturnType<typeof makeEvents>; expected: number | typeof NO_STREAM } | undefined;
            for (const s of steps) {
              if (s.kind === 'append') {
                const stream = streams[s.stream] as string;
                const current = revisions.get(stream) ?? NO_STREAM;
                const expected = s.stale ? (current === NO_STREAM ? 0 : current - 1) : current;
                const events = makeEvents(s.count);
                try {
                  revisions.set(stream, (await writer.append(stream, events, expected)).nextExpectedRevision);
                  last = { stream, events, expected };
                } catch (error) {
                  expect(error).toBeInstanceOf(WrongExpectedRevision);
                }
              } else if (s.kind === 'retry' && last) {
                await writer.append(last.stream, last.events, last.expected);
              } else if (s.kind === 'foreign') {
                await foreign.append(streamName('foreign'), makeEvents(s.count), NO_STREAM);
              } else if (s.kind === 'read') {
                const after = Math.max(0, (await truth.headPosition()) - s.back);
                expect(await writer.readAll({ after, maxCount: s.maxCount })).toEqual(await truth.readAll({ after, maxCount: s.maxCount }));
              }
            }
            expect(await writer.readAll({ after: 0, maxCount: 1000 })).toEqual(await truth.readAll({ after: 0, maxCount: 1000 }));
          } finally {
            await truth.close();
            await foreign.close();
            await writer.close();
          }
        }),
        { numRuns: 60 },
      );
    });

    it('serves the positions it wrote itself without reading the rows again', async () => {
      const file = newFile();
      const writer = track(new SqliteEventStore({ file, pollMs: 60_000 }));
      const result = await writer.append(streamName(), makeEvents(3), NO_STREAM);
      const first = await writer.readAll({ after: 0, maxCount: 10 });
      // The very same objects each time: one decoded copy shared by every follower.
      expect(await writer.readAll({ after: 0, maxCount: 10 })).toEqual(first);
      expect((await writer.readAll({ after: 1, maxCount: 10 }))[0]).toBe(first[1]);
      expect(first.map((e) => e.position)).toEqual([1, 2, result.position]);
    });

    it('hands out frozen events, from the tail and from the rows alike', async () => {
      const file = newFile();
      const writer = track(new SqliteEventStore({ file, pollMs: 60_000 }));
      await writer.append(streamName(), [makeEvent('Tested', { nested: { a: 1 } })], NO_STREAM);
      const reader = track(new SqliteEventStore({ file, readonly: true }));
      for (const [event] of [await writer.readAll({ after: 0, maxCount: 1 }), await reader.readAll({ after: 0, maxCount: 1 })]) {
        expect(Object.isFrozen(event)).toBe(true);
        expect(Object.isFrozen(event?.data)).toBe(true);
        expect(Object.isFrozen(event?.metadata)).toBe(true);
      }
    });
  });

  describe('background WAL checkpoints', () => {
    it('copy the WAL into the database from another thread, and everything stays readable, before and after a reopen', async () => {
      const file = newFile();
      const store = new SqliteEventStore({ file, pollMs: 60_000, backgroundCheckpointMs: 60_000 });
      const streams = Array.from({ length: 20 }, () => streamName('wal'));
      for (let round = 0; round < 30; round++) {
        await Promise.all(streams.map((s) => store.append(s, makeEvents(5), round === 0 ? NO_STREAM : round * 5 - 1)));
      }
      // Automatic checkpoints are off: the WAL holds every commit until the worker copies it.
      const walBefore = fs.statSync(`${file}-wal`).size;
      expect(walBefore).toBeGreaterThan(100_000);
      const outcome = await store.walCheckpointer?.checkpoint();
      expect(outcome?.error).toBeUndefined();
      expect(outcome?.result?.checkpointed).toBe(outcome?.result?.log);
      expect(fs.statSync(file).size).toBeGreaterThan(100_000);

      // The next commit starts the WAL over instead of growing it.
      await store.append(streamName('wal'), makeEvents(1), NO_STREAM);
      await store.walCheckpointer?.checkpoint();
      await store.append(streamName('wal'), makeEvents(1), NO_STREAM);
      expect(fs.statSync(`${file}-wal`).size).toBeLessThanOrEqual(walBefore);
      expect(await store.headPosition()).toBe(20 * 30 * 5 + 2);
      const all = await store.readAll({ after: 0, maxCount: 10_000 });
      await store.close();
      expect(fs.existsSync(`${file}-wal`)).toBe(false);

      const reopened = track(new SqliteEventStore({ file, readonly: true }));
      expect(await reopened.readAll({ after: 0, maxCount: 10_000 })).toEqual(all);
    });
  });

  describe('syncing off the event loop', () => {
    const releasers: Array<() => Promise<void>> = [];
    /** Holds every fdatasync until released, as a slow disk would. */
    const holdSyncs = () => {
      const held: Array<(error: NodeJS.ErrnoException | null) => void> = [];
      let finished = 0; // released syncs whose callback has run
      const real = fs.fdatasync;
      const spy = jest.spyOn(fs, 'fdatasync').mockImplementation(((fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => {
        const done = (error: NodeJS.ErrnoException | null): void => {
          try {
            callback(error);
          } finally {
            finished++;
          }
        };
        held.push((error) => (error ? done(error) : real(fd, done)));
      }));
      /**
       * Releases the held syncs one at a time, each once the one before has finished: its callback has run, so a
       * sync that it started is held by then, and the loop ends only when no sync is left waiting.
       */
      const releaseAll = async (error: NodeJS.ErrnoException | null = null): Promise<void> => {
        while (held.length > 0) {
          const released = finished + 1;
          held.shift()?.(error);
          await eventually('a released fdatasync to finish', () => finished >= released);
        }
      };
      releasers.push(() => releaseAll());
      return { held, spy, releaseAll };
    };
    const syncStarted = (disk: ReturnType<typeof holdSyncs>) =>
      eventually('the commit\'s fdatasync to start', () => disk.held.length === 1, { seen: () => ({ held: disk.held.length }) });
    /**
     * One turn of the event loop. While the sync is held nothing waiting for it can settle, and whatever does not
     * wait for it (a flush the store scheduled, a promise it resolved) has run by then: so a promise still pending
     * here is one that waits for the sync, whatever the speed of the machine.
     */
    const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));
    afterEach(async () => {
      for (const release of releasers.splice(0)) await release(); // a failed test must not leave a store waiting to close
      jest.restoreAllMocks();
    });

    it('resolves an append, and shows its events to readers, only once the WAL is synced', async () => {
      const file = newFile();
      const store = track(new SqliteEventStore({ file, pollMs: 60_000, syncOffLoop: true }));
      const streamId = streamName();
      await store.append(streamId, makeEvents(1), NO_STREAM);
      const disk = holdSyncs();

      let resolved = false;
      const appended = store.append(streamId, makeEvents(2), 0).then((r) => ((resolved = true), r));
      await syncStarted(disk);
      expect(disk.held).toHaveLength(1);
      expect(resolved).toBe(false);
      // Committed in SQLite, but not shown: neither in the total order, nor as the head, nor (yet) from the stream.
      expect(committedHead(file)()).toBe(3);
      expect(await store.readAll({ after: 0, maxCount: 10 })).toHaveLength(1);
      expect(await store.headPosition()).toBe(1);
      let streamRead = false;
      const stream = store.readStream(streamId).then((events) => ((streamRead = true), events));
      await nextTurn();
      expect(streamRead).toBe(false);
      expect(resolved).toBe(false);

      await disk.releaseAll();
      expect(resolved).toBe(true);
      expect((await appended).position).toBe(3);
      expect(await stream).toHaveLength(3);
      expect(await store.readAll({ after: 0, maxCount: 10 })).toHaveLength(3);
      expect(await store.headPosition()).toBe(3);
    });

    it('commits the durable appends made while a sync runs in one transaction when it ends, and syncs them once', async () => {
      const file = newFile();
      const store = track(new SqliteEventStore({ file, pollMs: 60_000, syncOffLoop: true }));
      const disk = holdSyncs();
      const appends: Array<Promise<{ position: number }>> = [];
      for (let i = 0; i < 10; i++) {
        appends.push(store.append(streamName(), makeEvents(1), NO_STREAM));
        await new Promise((r) => setImmediate(r)); // each in its own event-loop turn
      }
      // The first commit's sync runs; the other nine could not be answered before the next one, so they wait uncommitted.
      expect(committedHead(file)()).toBe(1);
      expect(disk.held).toHaveLength(1);

      // One flush is one transaction: record how many appends each one commits.
      type Flushing = { pending: unknown[]; flush(): void };
      const proto = SqliteEventStore.prototype as unknown as Flushing;
      const flush = proto.flush;
      const committed: number[] = [];
      jest.spyOn(proto, 'flush').mockImplementation(function (this: Flushing) {
        if (this.pending.length > 0) committed.push(this.pending.length);
        flush.call(this);
      });
      await disk.releaseAll();
      const positions = (await Promise.all(appends)).map((r) => r.position);
      expect(positions).toEqual(Array.from({ length: 10 }, (_, i) => i + 1)); // in the order they were made
      expect(committed).toEqual([9]);
      expect(disk.spy).toHaveBeenCalledTimes(2);
    });

    it('rejects the appends still waiting for a sync when that sync fails', async () => {
      const file = newFile();
      const store = track(new SqliteEventStore({ file, pollMs: 60_000, syncOffLoop: true }));
      const disk = holdSyncs();
      const first = rejectionOf(store.append(streamName(), makeEvents(1), NO_STREAM));
      await syncStarted(disk);
      const deferred = rejectionOf(store.append(streamName(), makeEvents(1), NO_STREAM));
      await nextTurn();
      expect(committedHead(file)()).toBe(1); // waiting for the running sync to end, uncommitted
      await disk.releaseAll(Object.assign(new Error('EIO'), { code: 'EIO' }));
      expect(String(await first)).toMatch(/could not sync/);
      expect(String(await deferred)).toMatch(/could not sync/);
      expect(committedHead(file)()).toBe(1); // never committed
    });

    it("answers an 'ordered' append at commit, shows it only once synced, and a later durable append's sync covers it", async () => {
      const file = newFile();
      const store = track(new SqliteEventStore({ file, pollMs: 60_000, syncOffLoop: true }));
      const disk = holdSyncs();
      const claim = streamName();
      const order = streamName();

      // Answered without any sync having completed; its sync has started all the same.
      const ordered = await store.append(claim, makeEvents(1), NO_STREAM, { durability: 'ordered' });
      expect(ordered.position).toBe(1);
      expect(disk.held).toHaveLength(1);
      expect(await store.readAll({ after: 0, maxCount: 10 })).toHaveLength(0);
      expect(await store.headPosition()).toBe(0);

      // A durable append while the claim's sync runs is committed when that sync ends, after the claim.
      let durable = false;
      const placed = store.append(order, makeEvents(2), NO_STREAM).then((r) => ((durable = true), r));
      await nextTurn();
      expect(committedHead(file)()).toBe(1);
      expect(durable).toBe(false);

      await disk.releaseAll();
      expect((await placed).position).toBe(3);
      // Once the durable append is answered, both are synced and shown, in commit order.
      expect((await store.readAll({ after: 0, maxCount: 10 })).map((e) => e.streamId)).toEqual([claim, order, order]);
    });

    it("answers 'ordered' and durable appends of one commit each in its own time", async () => {
      const file = newFile();
      const store = track(new SqliteEventStore({ file, pollMs: 60_000, syncOffLoop: true }));
      const disk = holdSyncs();
      const answered: string[] = [];
      const durable = store.append(streamName(), makeEvents(1), NO_STREAM).then(() => answered.push('durable'));
      const ordered = store.append(streamName(), makeEvents(1), NO_STREAM, { durability: 'ordered' }).then(() => answered.push('ordered'));
      await ordered;
      expect(answered).toEqual(['ordered']);
      await disk.releaseAll();
      await durable;
      expect(answered).toEqual(['ordered', 'durable']);
    });

    it("treats 'ordered' as durable when every commit is synced in place", async () => {
      const file = newFile();
      const store = track(new SqliteEventStore({ file, pollMs: 60_000 }));
      const spy = jest.spyOn(fs, 'fdatasync');
      await store.append(streamName(), makeEvents(1), NO_STREAM, { durability: 'ordered' });
      expect(spy).not.toHaveBeenCalled(); // synchronous=FULL: SQLite synced inside the commit
      expect(await store.readAll({ after: 0, maxCount: 10 })).toHaveLength(1);
    });

    it('fails every waiting append, and every later one, when a sync fails', async () => {
      const file = newFile();
      const store = track(new SqliteEventStore({ file, pollMs: 60_000, syncOffLoop: true }));
      const disk = holdSyncs();
      const waiting = rejectionOf(store.append(streamName(), makeEvents(1), NO_STREAM));
      await syncStarted(disk);
      await disk.releaseAll(Object.assign(new Error('EIO'), { code: 'EIO' }));

      expect(String(await waiting)).toMatch(/could not sync/);
      expect(String(await rejectionOf(store.append(streamName(), makeEvents(1), NO_STREAM)))).toMatch(/could not sync/);
    });
  });
});
