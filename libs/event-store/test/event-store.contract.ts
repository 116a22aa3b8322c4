/**
 * The shared contract of the EventStore port. Every adapter runs it through a small `*.int-spec.ts` that passes a
 * factory, e.g. `eventStoreContract('sqlite', { open, reopen, cleanup })`. Adding an adapter (EventStoreDB) means
 * adding one more such spec, not another copy of these tests.
 *
 * Factory rules:
 * - `open()` returns a new, EMPTY store (head position 0), fully independent of the stores opened before.
 * - `reopen(previous)` closes `previous` and opens the same durable store again (a process restart). Adapters that
 *   keep nothing across restarts (in-memory) omit it, and the durability tests are skipped for them.
 * - `cleanup()` runs once after the whole suite (temp dirs, containers).
 * - `densePositions` (default true): positions are 1, 2, 3, … with no gap (the SQL and in-memory stores), and the
 *   suite asserts the exact numbers. `false` for a store whose positions are sparse (EventStoreDB: log offsets): it
 *   must still give one strictly increasing position per event, the same order everywhere (readStream, readAll,
 *   subscriptions), and `after` = any position it gave must continue exactly after that event.
 * - `uniqueEventIds` (default true): an event id is unique in the whole store (DuplicateEventId across streams).
 *   `false` for a store that recognises ids only where a retry would put them (EventStoreDB's idempotency check).
 * The suite closes every store it opened after each test; `close()` may therefore be called on a store twice.
 */
import { randomUUID } from 'node:crypto';
import {
  AppendResult,
  DuplicateEventId,
  EventData,
  EventMetadata,
  EventStore,
  ExpectedRevision,
  NO_STREAM,
  RecordedEvent,
  Subscription,
  WrongExpectedRevision,
} from '../src/event-store.port';
import { eventually } from '../../../test/support/eventually';

export interface EventStoreFactory {
  /** A new, empty store. */
  open(): Promise<EventStore>;
  /** Closes `previous` and opens the same durable store again, as a restarted process would. */
  reopen?: (previous: EventStore) => Promise<EventStore>;
  cleanup?(): Promise<void>;
  /** Positions are exactly 1, 2, 3, … (default true); see the header. */
  readonly densePositions?: boolean;
  /** An event id is unique across every stream (default true); see the header. */
  readonly uniqueEventIds?: boolean;
}

/**
 * A hang guard, not a speed claim: generous for a loaded two-core box, yet well under the SQLite adapters' 60 s poll
 * in these tests, so a lost wake-up still fails instead of being rescued by a poll tick.
 */
const DELIVERY_TIMEOUT_MS = 20_000;

// ---------------------------------------------------------------------------------------------------------------
// helpers

let counter = 0;
export const streamName = (prefix = 'contract'): string => `${prefix}-${randomUUID()}`;

export const makeEvent = (type = 'Tested', data: Record<string, unknown> = {}, metadata: Partial<EventMetadata> = {}): EventData => ({
  eventId: randomUUID(),
  type,
  data: { n: ++counter, ...data },
  metadata: { schemaVersion: 1, ...metadata },
});

export const makeEvents = (n: number, type = 'Tested'): EventData[] => Array.from({ length: n }, () => makeEvent(type));

/** The error a promise rejects with; fails the test when it fulfils instead. */
export const rejectionOf = async (promise: Promise<unknown>): Promise<unknown> => {
  let value: unknown;
  try {
    value = await promise;
  } catch (error) {
    return error;
  }
  throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
};

export const expectWrongRevision = async (
  promise: Promise<unknown>,
  streamId: string,
  expected: ExpectedRevision,
  actual: number | typeof NO_STREAM,
): Promise<void> => {
  const error = await rejectionOf(promise);
  expect(error).toBeInstanceOf(WrongExpectedRevision);
  expect(error).toMatchObject({ streamId, expected, actual });
};

const nextMacrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const TIMED_OUT = Symbol('timed out');
const within = async <T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> => {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = setTimeout(() => {
        resolve(TIMED_OUT);
      }, ms);
    });
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
};

/**
 * Reads a subscription step by step without ever hanging the suite. A `next()` that is still pending when a wait
 * times out is kept and reused, so no event is lost between two reads.
 */
export class SubscriptionReader {
  private readonly iterator: AsyncIterator<RecordedEvent>;
  private pending: Promise<IteratorResult<RecordedEvent>> | undefined;

  constructor(readonly subscription: Subscription) {
    this.iterator = subscription[Symbol.asyncIterator]();
  }

  private next(): Promise<IteratorResult<RecordedEvent>> {
    this.pending ??= this.iterator.next();
    return this.pending;
  }

  /** The next `n` events; fails when they do not arrive in time or the subscription ends first. */
  async take(n: number, timeoutMs = DELIVERY_TIMEOUT_MS): Promise<RecordedEvent[]> {
    const events: RecordedEvent[] = [];
    const deadline = Date.now() + timeoutMs;
    while (events.length < n) {
      const result = await within(this.next(), Math.max(0, deadline - Date.now()));
      if (result === TIMED_OUT) throw new Error(`subscription delivered ${events.length} of ${n} events within ${timeoutMs} ms`);
      this.pending = undefined;
      if (result.done === true) throw new Error(`subscription ended after ${events.length} of ${n} events`);
      events.push(result.value);
    }
    return events;
  }

  /** The events still handed out until the iteration ends; fails when it does not end in time. */
  async drain(timeoutMs = DELIVERY_TIMEOUT_MS): Promise<RecordedEvent[]> {
    const events: RecordedEvent[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const result = await within(this.next(), Math.max(0, deadline - Date.now()));
      if (result === TIMED_OUT) throw new Error(`subscription still open after ${timeoutMs} ms`);
      this.pending = undefined;
      if (result.done === true) return events;
      events.push(result.value);
    }
  }
}

/**
 * That each reader delivered nothing more (no duplicate, no phantom event) since its last event, shown by an ordering
 * fact rather than a quiet period: every reader first asks for its next event (so it is reading or waiting), then one
 * marker event is appended to a stream of its own, and it must be the very next event every reader delivers.
 * Returns the marker as recorded.
 */
export const expectNothingBeforeMarker = async (store: Pick<EventStore, 'append'>, ...readers: SubscriptionReader[]): Promise<RecordedEvent> => {
  if (readers.length === 0) throw new Error('expectNothingBeforeMarker needs at least one reader');
  const next = readers.map((reader) => reader.take(1));
  const marker = makeEvent('Marker');
  const { position } = await store.append(streamName('marker'), [marker], NO_STREAM);
  const delivered = (await Promise.all(next)).map(([event]) => event);
  expect(delivered.map((e) => ({ position: e?.position, eventId: e?.eventId }))).toEqual(readers.map(() => ({ position, eventId: marker.eventId })));
  return delivered[0] as RecordedEvent;
};

const positions = (events: readonly RecordedEvent[]): number[] => events.map((e) => e.position);
const ids = (events: readonly { eventId: string }[]): string[] => events.map((e) => e.eventId);
const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);

const expectStrictlyIncreasing = (values: readonly number[]): void => {
  values.forEach((value, i) => {
    expect(value).toBeGreaterThanOrEqual(1);
    if (i > 0) expect(value).toBeGreaterThan(values[i - 1] as number);
  });
};

// ---------------------------------------------------------------------------------------------------------------
// the contract

export function eventStoreContract(name: string, factory: EventStoreFactory): void {
  describe(`EventStore contract: ${name}`, () => {
    const openStores = new Set<EventStore>();

    const open = async (): Promise<EventStore> => {
      const store = await factory.open();
      openStores.add(store);
      return store;
    };
    const reopen = async (previous: EventStore): Promise<EventStore> => {
      if (!factory.reopen) throw new Error('this adapter has no reopen');
      openStores.delete(previous);
      const store = await factory.reopen(previous);
      openStores.add(store);
      return store;
    };
    const close = async (store: EventStore): Promise<void> => {
      openStores.delete(store);
      await store.close();
    };

    afterEach(async () => {
      const stores = [...openStores];
      openStores.clear();
      await Promise.all(stores.map((s) => s.close()));
    });

    afterAll(async () => {
      await factory.cleanup?.();
    });

    const readEverything = (store: EventStore): Promise<RecordedEvent[]> => store.readAll({ after: 0, maxCount: 1_000_000 });
    const dense = factory.densePositions !== false;
    /**
     * The positions `events` must have: exactly `from`, `from + 1`, … on a dense store; on a sparse one, the positions
     * the store's own readAll gives those events (`all`), which must be as many and strictly increasing.
     */
    const expectedPositions = (denseFrom: number, count: number, all: readonly RecordedEvent[]): number[] => {
      if (dense) return range(denseFrom, count);
      const sparse = positions(all).slice(denseFrom - 1, denseFrom - 1 + count);
      expect(sparse).toHaveLength(count);
      expectStrictlyIncreasing(sparse);
      return sparse;
    };
    // Durability tests exist only for adapters that can be reopened; the in-memory one is not durable by design,
    // so for it they are not registered at all (rather than shown as skipped).
    const durableIt = (name: string, fn: () => Promise<void>): void => {
      if (factory.reopen) it(`${name} (durable)`, fn);
    };
    // Likewise, ids unique across streams are a promise of the SQL and in-memory stores only.
    const uniqueEventIds = factory.uniqueEventIds !== false;
    const uniqueIdsIt = (name: string, fn: () => Promise<void>): void => {
      if (uniqueEventIds) it(name, fn);
    };

    describe('append', () => {
      it('a new store is empty', async () => {
        const store = await open();
        expect(await store.headPosition()).toBe(0);
        expect(await readEverything(store)).toEqual([]);
      });

      it('appending with NO_STREAM creates the stream at revision 0 with a position of at least 1', async () => {
        const store = await open();
        const streamId = streamName();
        const event = makeEvent('SaleScheduled', { saleId: 's1' }, { correlationId: 'c1' });
        const before = Date.now();

        const result = await store.append(streamId, [event], NO_STREAM);

        expect(result.nextExpectedRevision).toBe(0);
        expect(result.position).toBeGreaterThanOrEqual(1);
        const stored = await store.readStream(streamId);
        expect(stored).toHaveLength(1);
        expect(stored[0]).toMatchObject({ ...event, streamId, revision: 0, position: result.position });
        expect(stored[0]?.recordedAt).toEqual(expect.any(Number));
        expect(stored[0]?.recordedAt).toBeGreaterThanOrEqual(before - 1000);
      });

      it('appending with the correct expected revision continues the stream, one revision and position per event', async () => {
        const store = await open();
        const streamId = streamName();
        const first = await store.append(streamId, makeEvents(2), NO_STREAM);
        expect(first.nextExpectedRevision).toBe(1);

        const second = await store.append(streamId, makeEvents(3), first.nextExpectedRevision);
        expect(second.nextExpectedRevision).toBe(4);
        if (dense) expect(second.position).toBe(first.position + 3);

        const third = await store.append(streamId, makeEvents(1), second.nextExpectedRevision);
        expect(third.nextExpectedRevision).toBe(5);
        if (dense) expect(third.position).toBe(second.position + 1);

        const stored = await store.readStream(streamId);
        expect(stored.map((e) => e.revision)).toEqual(range(0, 6));
        if (dense) expect(positions(stored)).toEqual(range(first.position - 1, 6));
        // Whatever the numbering: one increasing position per event, and each append's result is its last event's.
        expectStrictlyIncreasing(positions(stored));
        expect([stored[1]?.position, stored[4]?.position, stored[5]?.position]).toEqual([first.position, second.position, third.position]);
        expect(positions(stored)).toEqual(positions(await readEverything(store)));
      });

      it("an 'ordered' append takes its place in the order, and is read like any other once a later durable append is answered", async () => {
        const store = await open();
        const claim = streamName();
        const order = streamName();
        const ordered = await store.append(claim, makeEvents(1), NO_STREAM, { durability: 'ordered' });
        const durable = await store.append(order, makeEvents(2), NO_STREAM);
        if (dense) expect(durable.position).toBe(ordered.position + 2);

        expect(await store.readStream(claim)).toHaveLength(1);
        const all = await store.readAll({ after: dense ? ordered.position - 1 : 0, maxCount: 10 });
        const middle = dense ? ordered.position + 1 : (all[1]?.position ?? -1);
        expect(all.map((e) => [e.streamId, e.position])).toEqual([
          [claim, ordered.position],
          [order, middle],
          [order, durable.position],
        ]);
        expectStrictlyIncreasing(positions(all));
        expect(await store.headPosition()).toBe(durable.position);
      });

      it("whenDurable(position) of an 'ordered' append resolves, and then its event is shown to readers of the log", async () => {
        const store = await open();
        const claim = streamName();
        const ordered = await store.append(claim, makeEvents(1), NO_STREAM, { durability: 'ordered' });
        await store.whenDurable(ordered.position);
        const all = await store.readAll({ after: dense ? ordered.position - 1 : 0, maxCount: 10 });
        expect(all.map((e) => [e.streamId, e.position])).toEqual([[claim, ordered.position]]);
        expect(await store.headPosition()).toBe(ordered.position);
        // A position already durable (or 0: nothing) resolves at once.
        await store.whenDurable(0);
        await store.whenDurable(ordered.position);
      });

      it('an empty append is rejected (as a rejected promise) and writes nothing', async () => {
        const store = await open();
        const streamId = streamName();
        let attempt: Promise<AppendResult> | undefined;
        expect(() => {
          attempt = store.append(streamId, [], NO_STREAM);
        }).not.toThrow();
        await expect(attempt).rejects.toThrow();

        const created = await store.append(streamId, makeEvents(1), NO_STREAM);
        await expect(store.append(streamId, [], created.nextExpectedRevision)).rejects.toThrow();
        expect(await store.readStream(streamId)).toHaveLength(1);
        expect(await store.headPosition()).toBe(created.position);
      });
    });

    describe('optimistic concurrency', () => {
      it('a stale or future expected revision fails with WrongExpectedRevision naming stream, expected and actual', async () => {
        const store = await open();
        const streamId = streamName('inventory');
        const created = await store.append(streamId, makeEvents(3), NO_STREAM);

        await expectWrongRevision(store.append(streamId, makeEvents(1), 0), streamId, 0, 2);
        await expectWrongRevision(store.append(streamId, makeEvents(1), 1), streamId, 1, 2);
        await expectWrongRevision(store.append(streamId, makeEvents(1), 3), streamId, 3, 2);

        expect(await store.readStream(streamId)).toHaveLength(3);
        expect(await store.headPosition()).toBe(created.position);
      });

      it('NO_STREAM on an existing stream fails with WrongExpectedRevision', async () => {
        const store = await open();
        const streamId = streamName();
        const created = await store.append(streamId, makeEvents(1), NO_STREAM);

        await expectWrongRevision(store.append(streamId, makeEvents(2), NO_STREAM), streamId, NO_STREAM, 0);

        expect(await store.readStream(streamId)).toHaveLength(1);
        expect(await store.headPosition()).toBe(created.position);
      });

      it('a numeric expected revision on a missing stream fails with WrongExpectedRevision', async () => {
        const store = await open();
        const streamId = streamName();

        await expectWrongRevision(store.append(streamId, makeEvents(1), 0), streamId, 0, NO_STREAM);
        await expectWrongRevision(store.append(streamId, makeEvents(1), 7), streamId, 7, NO_STREAM);

        expect(await store.readStream(streamId)).toEqual([]);
        expect(await store.headPosition()).toBe(0);
      });

      it('many concurrent appenders on one stream with the same expected revision: exactly one wins, no gap', async () => {
        const store = await open();
        const streamId = streamName('inventory');
        await store.append(streamId, makeEvents(1), NO_STREAM);
        const batches = Array.from({ length: 24 }, () => makeEvents(2, 'StockReserved'));

        // Half start in this turn, the others in later turns: same-batch and cross-batch races both count.
        const outcomes = await Promise.allSettled(
          batches.map(async (events, i) => {
            if (i % 3 === 1) await Promise.resolve();
            if (i % 3 === 2) await nextMacrotask();
            return store.append(streamId, events, 0);
          }),
        );

        const winners = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [{ i, result: o.value }] : []));
        expect(winners).toHaveLength(1);
        const winner = winners[0];
        if (!winner) throw new Error('no winner');
        expect(winner.result.nextExpectedRevision).toBe(2);
        for (const outcome of outcomes) {
          if (outcome.status === 'fulfilled') continue;
          expect(outcome.reason).toBeInstanceOf(WrongExpectedRevision);
          expect(outcome.reason).toMatchObject({ streamId, expected: 0, actual: 2 });
        }

        const stored = await store.readStream(streamId);
        expect(stored.map((e) => e.revision)).toEqual([0, 1, 2]);
        expect(ids(stored.slice(1))).toEqual(ids(batches[winner.i] ?? []));
        expect(positions(stored)).toEqual(expectedPositions(1, 3, await readEverything(store)));
        expect(await store.headPosition()).toBe(stored[2]?.position);
      });

      it('concurrent appenders on different streams all succeed, each with its own positions', async () => {
        const store = await open();
        const appends = Array.from({ length: 24 }, (_, i) => ({ streamId: streamName(`buyer-${i}`), events: makeEvents(1 + (i % 3)) }));

        const results = await Promise.all(
          appends.map(async ({ streamId, events }, i) => {
            if (i % 2 === 1) await nextMacrotask();
            return store.append(streamId, events, NO_STREAM);
          }),
        );

        const total = appends.reduce((n, a) => n + a.events.length, 0);
        results.forEach((result, i) => {
          expect(result.nextExpectedRevision).toBe((appends[i]?.events.length ?? 0) - 1);
        });
        expect(new Set(results.map((r) => r.position)).size).toBe(appends.length);
        const everything = await readEverything(store);
        expect(positions(everything)).toEqual(expectedPositions(1, total, everything));
        expect(await store.headPosition()).toBe(everything.at(-1)?.position);
        for (const [i, { streamId, events }] of appends.entries()) {
          const stored = await store.readStream(streamId);
          expect(ids(stored)).toEqual(ids(events));
          expect(stored.at(-1)?.position).toBe(results[i]?.position);
        }
      });
    });

    describe('reading', () => {
      it('readStream returns only that stream, in revision order; [] for a missing stream', async () => {
        const store = await open();
        const a = streamName('a');
        const b = streamName('b');
        const written: Record<string, EventData[]> = { [a]: [], [b]: [] };
        const revision: Record<string, ExpectedRevision> = { [a]: NO_STREAM, [b]: NO_STREAM };
        for (let i = 0; i < 6; i++) {
          const streamId = i % 2 === 0 ? a : b;
          const events = makeEvents(1 + (i % 2), `Type${i}`);
          revision[streamId] = (await store.append(streamId, events, revision[streamId] ?? NO_STREAM)).nextExpectedRevision;
          written[streamId]?.push(...events);
        }

        for (const streamId of [a, b]) {
          const stored = await store.readStream(streamId);
          expect(ids(stored)).toEqual(ids(written[streamId] ?? []));
          expect(stored.map((e) => e.type)).toEqual((written[streamId] ?? []).map((e) => e.type));
          expect(stored.map((e) => e.revision)).toEqual(range(0, stored.length));
          expect(stored.every((e) => e.streamId === streamId)).toBe(true);
          const pos = positions(stored);
          expect(pos).toEqual([...pos].sort((x, y) => x - y));
        }
        expect(await store.readStream(streamName('missing'))).toEqual([]);
      });

      it('readStream fromRevision starts at that revision', async () => {
        const store = await open();
        const streamId = streamName();
        const events = makeEvents(5);
        await store.append(streamId, events, NO_STREAM);

        expect(ids(await store.readStream(streamId, 0))).toEqual(ids(events));
        const fromTwo = await store.readStream(streamId, 2);
        expect(fromTwo.map((e) => e.revision)).toEqual([2, 3, 4]);
        expect(ids(fromTwo)).toEqual(ids(events.slice(2)));
        expect((await store.readStream(streamId, 4)).map((e) => e.revision)).toEqual([4]);
        expect(await store.readStream(streamId, 5)).toEqual([]);
        expect(await store.readStream(streamName('missing'), 3)).toEqual([]);
      });

      it('readAll gives one strictly increasing, contiguous total order across streams, with after/maxCount paging', async () => {
        const store = await open();
        const streams = [streamName('x'), streamName('y'), streamName('z')];
        const revisions = new Map<string, ExpectedRevision>();
        const appended: EventData[] = [];
        for (let i = 0; i < 9; i++) {
          const streamId = streams[i % 3] ?? '';
          const events = makeEvents(1 + (i % 4));
          const result = await store.append(streamId, events, revisions.get(streamId) ?? NO_STREAM);
          revisions.set(streamId, result.nextExpectedRevision);
          appended.push(...events);
        }
        const total = appended.length;

        const all = await store.readAll({ after: 0, maxCount: 1000 });
        expect(ids(all)).toEqual(ids(appended));
        if (dense) expect(positions(all)).toEqual(range(1, total));
        expectStrictlyIncreasing(positions(all));
        for (const streamId of streams) {
          expect(all.filter((e) => e.streamId === streamId).map((e) => e.revision)).toEqual(range(0, all.filter((e) => e.streamId === streamId).length));
        }

        // Paging by `after` = last position seen rebuilds exactly the same sequence.
        const paged: RecordedEvent[] = [];
        for (let after = 0; ; ) {
          const page = await store.readAll({ after, maxCount: 4 });
          expect(page.length).toBeLessThanOrEqual(4);
          if (page.length === 0) break;
          paged.push(...page);
          after = page.at(-1)?.position ?? after;
        }
        expect(paged).toEqual(all);

        // `after` = any position the store gave continues exactly after that event: no gap, no repeat.
        for (const [i, event] of all.entries()) {
          expect(await store.readAll({ after: event.position, maxCount: 1 })).toEqual(all.slice(i + 1, i + 2));
        }
        const p = positions(all);
        expect(positions(await store.readAll({ after: p[4] ?? -1, maxCount: 3 }))).toEqual(dense ? [6, 7, 8] : p.slice(5, 8));
        expect(positions(await store.readAll({ after: p[total - 3] ?? -1, maxCount: 100 }))).toEqual(p.slice(total - 2));
        expect(await store.readAll({ after: p[total - 1] ?? -1, maxCount: 10 })).toEqual([]);
        // Beyond the head: only dense positions can name a number no event has.
        if (dense) expect(await store.readAll({ after: total + 50, maxCount: 10 })).toEqual([]);
      });

      it('headPosition is the position of the last event, unchanged by failed appends', async () => {
        const store = await open();
        const streamId = streamName();
        const first = await store.append(streamId, makeEvents(3), NO_STREAM);
        expect(await store.headPosition()).toBe(first.position);
        if (dense) expect(first.position).toBe(3);

        const other = await store.append(streamName(), makeEvents(2), NO_STREAM);
        expect(await store.headPosition()).toBe(other.position);
        if (dense) expect(other.position).toBe(5);
        expect(other.position).toBeGreaterThan(first.position);

        await rejectionOf(store.append(streamId, makeEvents(1), NO_STREAM));
        expect(await store.headPosition()).toBe(other.position);
        const all = await readEverything(store);
        expect(all.at(-1)?.position).toBe(other.position);
      });
    });

    describe('idempotent retry and event ids', () => {
      it('the same event ids with the same expected revision return the original result and write nothing', async () => {
        const store = await open();
        const streamId = streamName('buyer');
        const firstEvents = makeEvents(2, 'QuotaClaimed');
        const secondEvents = makeEvents(1, 'QuotaReleased');
        const first = await store.append(streamId, firstEvents, NO_STREAM);
        const second = await store.append(streamId, secondEvents, first.nextExpectedRevision);
        await store.append(streamName(), makeEvents(1), NO_STREAM);
        const head = await store.headPosition();
        const before = await readEverything(store);

        // Retried after the stream moved on (the client never saw the first answer).
        expect(await store.append(streamId, firstEvents, NO_STREAM)).toEqual(first);
        expect(await store.append(streamId, secondEvents, first.nextExpectedRevision)).toEqual(second);
        // A retry of the retry, and a retry built from fresh objects with the same ids.
        expect(await store.append(streamId, firstEvents.map((e) => ({ ...e })), NO_STREAM)).toEqual(first);

        expect(await store.headPosition()).toBe(head);
        expect(await readEverything(store)).toEqual(before);
      });

      it('concurrent retries of one append all get the original result', async () => {
        const store = await open();
        const streamId = streamName('buyer');
        const events = makeEvents(2);
        const results = await Promise.all(
          Array.from({ length: 8 }, async (_, i) => {
            if (i % 2 === 1) await nextMacrotask();
            return store.append(streamId, events, NO_STREAM);
          }),
        );
        const stored = await store.readStream(streamId);
        const original = { nextExpectedRevision: 1, position: dense ? 2 : (stored[1]?.position ?? -1) };
        for (const result of results) expect(result).toEqual(original);
        expect(await store.headPosition()).toBe(original.position);
        expect(ids(stored)).toEqual(ids(events));
      });

      durableIt('appends survive a restart, and a retry after the restart is still recognised', async () => {
        const store = await open();
        const streamId = streamName('buyer');
        const events = [
          makeEvent('QuotaClaimed', { nested: { deep: ['秒杀', { ok: true }] } }, { correlationId: 'corr', decidedAt: 123 }),
          makeEvent('QuotaReleased'),
        ];
        const first = await store.append(streamId, events, NO_STREAM);
        await store.append(streamName(), makeEvents(2), NO_STREAM);
        const before = await readEverything(store);

        const head = before.at(-1)?.position ?? -1;
        if (dense) expect(head).toBe(4);
        const reopened = await reopen(store);
        expect(await reopened.headPosition()).toBe(head);
        expect(await readEverything(reopened)).toEqual(before);
        expect(await reopened.append(streamId, events, NO_STREAM)).toEqual(first);
        expect(await reopened.headPosition()).toBe(head);

        // The stream and the total order continue where they were.
        const next = await reopened.append(streamId, makeEvents(1), first.nextExpectedRevision);
        expect(next.nextExpectedRevision).toBe(2);
        if (dense) expect(next.position).toBe(5);
        expect(next.position).toBeGreaterThan(head);
        await expectWrongRevision(reopened.append(streamId, makeEvents(1), first.nextExpectedRevision), streamId, 1, 2);

        const again = await reopen(reopened);
        expect(await again.append(streamId, events, NO_STREAM)).toEqual(first);
        const everything = await readEverything(again);
        expect(positions(everything)).toEqual(expectedPositions(1, 5, everything));
      });

      uniqueIdsIt('an event id already stored in another stream fails with DuplicateEventId and writes nothing', async () => {
        const store = await open();
        const a = streamName('a');
        const b = streamName('b');
        const shared = makeEvent('Shared');
        const first = await store.append(a, [shared], NO_STREAM);

        const alone = await rejectionOf(store.append(b, [shared], NO_STREAM));
        expect(alone).toBeInstanceOf(DuplicateEventId);
        expect(alone).toMatchObject({ eventId: shared.eventId });

        const fresh = makeEvent('Fresh');
        const second = await rejectionOf(store.append(b, [fresh, shared], NO_STREAM));
        expect(second).toBeInstanceOf(DuplicateEventId);
        expect(second).toMatchObject({ eventId: shared.eventId });

        expect(await store.readStream(b)).toEqual([]);
        expect(await store.headPosition()).toBe(first.position);
        // Nothing of the failed append was kept: its other id is still free and the positions stay contiguous.
        const after = await store.append(b, [fresh], NO_STREAM);
        expect(after.nextExpectedRevision).toBe(0);
        if (dense) expect(after.position).toBe(2);
        expect((await readEverything(store)).map((e) => e.position)).toEqual([first.position, after.position]);
      });

      it('a partial overlap with stored event ids fails and writes nothing', async () => {
        const store = await open();
        const streamId = streamName('inventory');
        const [e1, e2, e3] = makeEvents(3);
        if (!e1 || !e2 || !e3) throw new Error('events');
        const stored = await store.append(streamId, [e1, e2], NO_STREAM);

        const attempts: Array<[EventData[], ExpectedRevision]> = [
          [[e1, e3], NO_STREAM], // starts like the stored append, then differs
          [[e1, e2, e3], NO_STREAM], // a superset of the stored append
          [[e2], NO_STREAM], // a stored event at another revision
        ];
        // At the right revision, a stored id after a new one is caught only by a store whose ids are unique.
        if (uniqueEventIds) attempts.push([[e3, e2], 1], [[e3, e1], 1]);
        for (const [events, expected] of attempts) {
          const error = await rejectionOf(store.append(streamId, events, expected));
          expect([WrongExpectedRevision.name, DuplicateEventId.name]).toContain((error as Error).name);
          expect(error instanceof WrongExpectedRevision || error instanceof DuplicateEventId).toBe(true);
          expect(ids(await store.readStream(streamId))).toEqual(ids([e1, e2]));
          expect(await store.headPosition()).toBe(stored.position);
        }

        const last = await store.append(streamId, [e3], 1);
        expect(last.nextExpectedRevision).toBe(2);
        if (dense) expect(last.position).toBe(3);
        expect(last.position).toBeGreaterThan(stored.position);
      });

      it('the same event id twice within one append fails and writes nothing', async () => {
        const store = await open();
        const streamId = streamName();
        const event = makeEvent();
        const error = await rejectionOf(store.append(streamId, [event, { ...event, type: 'Other' }], NO_STREAM));
        expect(error).toBeInstanceOf(DuplicateEventId);
        expect(error).toMatchObject({ eventId: event.eventId });
        expect(await store.readStream(streamId)).toEqual([]);
        expect(await store.headPosition()).toBe(0);
        const alone = await store.append(streamId, [event], NO_STREAM);
        expect(alone.nextExpectedRevision).toBe(0);
        if (dense) expect(alone.position).toBe(1);
        expect((await readEverything(store)).map((e) => [e.eventId, e.position])).toEqual([[event.eventId, alone.position]]);
      });
    });

    describe('subscribeToAll', () => {
      it('from 0 delivers the existing events, then live ones, in order, with no gap and no duplicate', async () => {
        const store = await open();
        const a = streamName('a');
        let revisionA = (await store.append(a, makeEvents(3), NO_STREAM)).nextExpectedRevision;
        await store.append(streamName('b'), makeEvents(2), NO_STREAM);

        const reader = new SubscriptionReader(store.subscribeToAll(0));
        const existing = await reader.take(5);
        expect(positions(existing)).toEqual(expectedPositions(1, 5, await readEverything(store)));

        // The next two delivered are the live ones: nothing was delivered twice, or made up, in between.
        const liveAppend = await store.append(a, makeEvents(2), revisionA);
        revisionA = liveAppend.nextExpectedRevision;
        const live = await reader.take(2);
        expect(positions(live)).toEqual(expectedPositions(6, 2, await readEverything(store)));
        expect(live[1]?.position).toBe(liveAppend.position);
        expect(live.map((e) => e.revision)).toEqual([3, 4]);
        expect(revisionA).toBe(4);

        const marker = await expectNothingBeforeMarker(store, reader);
        expect([...existing, ...live, marker]).toEqual(await readEverything(store));
        reader.subscription.close();
      });

      it('concurrent appenders while iterating: every event exactly once, in position order', async () => {
        const store = await open();
        await store.append(streamName('seed'), makeEvents(4), NO_STREAM);
        const reader = new SubscriptionReader(store.subscribeToAll(0));

        const appenders = 5;
        const appendsEach = 12;
        const appending = Promise.all(
          Array.from({ length: appenders }, async (_, w) => {
            const streamId = streamName(`writer-${w}`);
            let revision: ExpectedRevision = NO_STREAM;
            for (let i = 0; i < appendsEach; i++) {
              // Vary the interleaving: back to back, after a microtask, after a macrotask.
              if ((i + w) % 3 === 1) await Promise.resolve();
              if ((i + w) % 3 === 2) await nextMacrotask();
              revision = (await store.append(streamId, makeEvents(1 + ((i + w) % 2)), revision)).nextExpectedRevision;
            }
          }),
        );
        const expectedTotal = 4 + Array.from({ length: appenders }, (_, w) => Array.from({ length: appendsEach }, (__, i) => 1 + ((i + w) % 2)).reduce((x, y) => x + y, 0)).reduce((x, y) => x + y, 0);

        const delivered = await reader.take(expectedTotal);
        await appending;
        const everything = await readEverything(store);
        expect(positions(delivered)).toEqual(expectedPositions(1, expectedTotal, everything));
        expect(new Set(ids(delivered)).size).toBe(expectedTotal);
        expect(delivered).toEqual(everything);
        const marker = await expectNothingBeforeMarker(store, reader);
        if (dense) expect(marker.position).toBe(expectedTotal + 1);
        expect(marker.position).toBeGreaterThan(everything.at(-1)?.position ?? 0);
        reader.subscription.close();
      });

      it('an append that lands while the caught-up subscription is reading is not missed', async () => {
        const store = await open();
        const streamId = streamName();
        const created = await store.append(streamId, makeEvents(1), NO_STREAM);
        let revision = created.nextExpectedRevision;
        const reader = new SubscriptionReader(store.subscribeToAll(0));
        expect(positions(await reader.take(1))).toEqual([dense ? 1 : created.position]);

        for (let round = 0; round < 5; round++) {
          // Queued before the subscription's next read is even issued, so it runs between that read and the wait.
          const appended = Promise.resolve().then(() => store.append(streamId, makeEvents(1), revision));
          const next = reader.take(1);
          const result = await appended;
          revision = result.nextExpectedRevision;
          expect(positions(await next)).toEqual([dense ? round + 2 : result.position]);
        }
        reader.subscription.close();
      });

      it('from a checkpoint delivers exactly the events after it, then live ones', async () => {
        const store = await open();
        const streamId = streamName();
        const created = await store.append(streamId, makeEvents(10), NO_STREAM);
        const all = await readEverything(store);
        const checkpoint = all[5]?.position ?? -1;
        if (dense) expect(checkpoint).toBe(6);

        const resumed = new SubscriptionReader(store.subscribeToAll(checkpoint));
        const caughtUp = await resumed.take(4);
        expect(caughtUp).toEqual(all.slice(6));

        // Each next delivers exactly the later append: nothing at or before the checkpoint, nothing twice.
        const atHead = new SubscriptionReader(store.subscribeToAll(await store.headPosition()));
        const more = await store.append(streamId, makeEvents(1), created.nextExpectedRevision);
        expect(positions(await resumed.take(1))).toEqual([more.position]);
        expect(positions(await atHead.take(1))).toEqual([more.position]);
        await expectNothingBeforeMarker(store, resumed, atHead);
        resumed.subscription.close();
        atHead.subscription.close();
      });

      it('close() of the subscription ends a for-await loop, whether it is busy or waiting for live events', async () => {
        const store = await open();
        const streamId = streamName();
        const created = await store.append(streamId, makeEvents(5), NO_STREAM);
        const p = expectedPositions(1, 5, await readEverything(store));

        // Closed from inside the loop, while events are still buffered.
        const inside = store.subscribeToAll(0);
        const seenInside: number[] = [];
        for await (const event of inside) {
          seenInside.push(event.position);
          if (seenInside.length === 2) inside.close();
        }
        expect(seenInside).toEqual(p.slice(0, 2));

        // Closed from outside, while the loop waits for live events.
        const outside = store.subscribeToAll(0);
        const seenOutside: number[] = [];
        const loop = (async () => {
          for await (const event of outside) seenOutside.push(event.position);
        })();
        await eventually('the loop to see the five events', () => seenOutside.length === 5, { seen: () => seenOutside });
        outside.close();
        expect(await within(loop, DELIVERY_TIMEOUT_MS)).not.toBe(TIMED_OUT);
        expect(seenOutside).toEqual(p);

        // The loop did not see the later append; a fresh subscription still sees everything.
        await store.append(streamId, makeEvents(1), created.nextExpectedRevision);
        expect(seenOutside).toEqual(p);
        const fresh = new SubscriptionReader(store.subscribeToAll(0));
        expect(positions(await fresh.take(6))).toEqual(expectedPositions(1, 6, await readEverything(store)));
        fresh.subscription.close();
      });

      it('breaking out of a for-await loop ends that subscription only', async () => {
        const store = await open();
        await store.append(streamName(), makeEvents(3), NO_STREAM);
        const p = expectedPositions(1, 3, await readEverything(store));
        const other = new SubscriptionReader(store.subscribeToAll(0));
        const seen: number[] = [];
        for await (const event of store.subscribeToAll(0)) {
          seen.push(event.position);
          if (event.position === p[1]) break;
        }
        expect(seen).toEqual(p.slice(0, 2));
        expect(positions(await other.take(3))).toEqual(p);
        other.subscription.close();
      });

      it('closing the store ends its open subscriptions', async () => {
        const store = await open();
        await store.append(streamName(), makeEvents(3), NO_STREAM);
        const p = expectedPositions(1, 3, await readEverything(store));

        const idle = store.subscribeToAll(0);
        const idleSeen: number[] = [];
        const idleLoop = (async () => {
          for await (const event of idle) idleSeen.push(event.position);
        })();
        const buffered = new SubscriptionReader(store.subscribeToAll(0));
        expect(positions(await buffered.take(1))).toEqual(p.slice(0, 1));
        await eventually('the idle loop to see the three events', () => idleSeen.length === 3, { seen: () => idleSeen });

        await close(store);

        expect(await within(idleLoop, DELIVERY_TIMEOUT_MS)).not.toBe(TIMED_OUT);
        expect(idleSeen).toEqual(p);
        // A subscription that still had buffered events ends too (it may first hand out what it already read).
        const rest = positions(await buffered.drain());
        expect([[], p.slice(1, 2), p.slice(1, 3)]).toContainEqual(rest);
      });
    });

    describe('data', () => {
      it('data, metadata, type and ids round-trip exactly (nested objects, arrays, unicode)', async () => {
        const store = await open();
        const streamId = `buyer-秒杀-${randomUUID()}-用户🚀`;
        const data = {
          saleId: 'sale-2024-双十一',
          qty: 3,
          price: 1999.99,
          negative: -42,
          zero: 0,
          big: 9007199254740991,
          flags: [true, false, null],
          empty: { object: {}, array: [], string: '' },
          nested: { level1: { level2: { level3: ['deep', 1, { x: 'ü' }] } } },
          unicode: '秒杀 — Ärger, ñandú, עברית, العربية, 🚀🔥👩‍👩‍👧‍👦, e\u0301',
          escapes: 'quote " backslash \\ newline \n tab \t nul-ish \u0001 slash /',
        };
        const metadata: EventMetadata = {
          schemaVersion: 2,
          correlationId: randomUUID(),
          causationId: randomUUID(),
          userId: 'użytkownik-用户',
          clientIpHash: 'ab12cd34',
          decidedAt: 1_700_000_000_123,
          custom: { trace: ['a', 'b'], sampled: true },
        };
        const event: EventData = { eventId: randomUUID(), type: 'QuotaClaimed.v2', data, metadata };
        const copy = structuredClone(event);

        const result = await store.append(streamId, [event], NO_STREAM);
        // Mutating the caller's objects afterwards does not change what was stored.
        (data.nested.level1.level2.level3 as unknown[]).push('mutated');
        data.qty = 99;

        const expected = { ...copy, streamId, revision: 0, position: result.position };
        const [fromStream] = await store.readStream(streamId);
        expect(fromStream).toMatchObject(expected);
        expect(fromStream?.data).toEqual(copy.data);
        expect(fromStream?.metadata).toEqual(copy.metadata);

        const [fromAll] = await store.readAll({ after: 0, maxCount: 1 });
        expect(fromAll).toEqual(fromStream);

        const reader = new SubscriptionReader(store.subscribeToAll(0));
        const [fromSubscription] = await reader.take(1);
        expect(fromSubscription).toEqual(fromStream);
        reader.subscription.close();
      });
    });
  });
}
