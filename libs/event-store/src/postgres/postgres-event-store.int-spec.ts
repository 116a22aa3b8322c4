import { randomBytes } from 'node:crypto';
import { EventStore, NO_STREAM, PostgresEventStore, PostgresEventStoreOptions, RecordedEvent } from '@flash/event-store';
import { eventually } from '../../../../test/support/eventually';
import {
  eventStoreContract,
  expectNothingBeforeMarker,
  expectWrongRevision,
  makeEvent,
  makeEvents,
  rejectionOf,
  streamName,
  SubscriptionReader,
} from '../../test/event-store.contract';
import { CommitProxy, describeWithPostgres, TestDatabase, withDatabase } from '../../test/postgres-support';

const positions = (events: readonly RecordedEvent[]): number[] => events.map((e) => e.position);
const ids = (events: readonly { eventId: string }[]): string[] => events.map((e) => e.eventId);

describe('PostgresEventStore.connect', () => {
  it('fails with a message naming the server (never its password) when nothing listens there', async () => {
    const error = await rejectionOf(PostgresEventStore.connect('postgres://flash:hunter2@127.0.0.1:1/nowhere', { connectTimeoutMs: 2000 }));
    expect(String(error)).toMatch(/cannot open the PostgreSQL event store at postgres:\/\/flash:\*\*\*@127\.0\.0\.1:1\/nowhere: .*ECONNREFUSED/);
    expect(String(error)).not.toContain('hunter2');
  });
});

describeWithPostgres('PostgresEventStore (PostgreSQL)', () => {
  const db = new TestDatabase();
  let schemas = 0;
  const newSchema = (): string => `s${++schemas}`;
  const openedIn = new Map<EventStore, string>();
  const opened = new Set<EventStore>();
  /** A store on one schema of the test database; each schema is a store of its own, empty when new. */
  const open = async (schema: string, options: PostgresEventStoreOptions & { port?: number } = {}): Promise<PostgresEventStore> => {
    const { port, ...rest } = options;
    // A long poll: live delivery must come from the in-process signal or from LISTEN/NOTIFY.
    const store = await PostgresEventStore.connect(port === undefined ? db.url : withDatabase(db.url, db.name, port), { schema, pollMs: 60_000, ...rest });
    openedIn.set(store, schema);
    opened.add(store);
    return store;
  };

  beforeAll(async () => {
    await db.create();
  });
  afterAll(async () => {
    await Promise.all([...opened].map((s) => s.close()));
    await db.drop();
  });

  eventStoreContract('postgres', {
    open: () => open(newSchema()),
    reopen: async (previous) => {
      const schema = openedIn.get(previous);
      if (schema === undefined) throw new Error('not opened by this factory');
      await previous.close();
      return open(schema);
    },
  });

  describe('specifics', () => {
    let proxy: CommitProxy;
    beforeAll(async () => {
      proxy = await CommitProxy.start();
    });
    afterAll(async () => {
      await proxy.close();
    });

    const appName = (): string => `flash-es-test-${randomBytes(4).toString('hex')}`;
    /** Whether the connection named `name` waits for a lock (the head row another transaction holds). */
    const waitsForLock = async (name: string): Promise<boolean> =>
      (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [name]))[0]?.n === 1;
    /** Whether `name`'s transaction has run its statements and waits for its COMMIT (the proxy holds it). */
    const holdsItsTransaction = async (name: string): Promise<boolean> =>
      (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle in transaction'`, [name]))[0]?.n === 1;
    const backendOf = async (name: string): Promise<number | undefined> =>
      (await db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [name]))[0]?.pid;

    describe('no reader ever skips an event (a lower position committing after a higher one)', () => {
      /**
       * The lower store's transaction has taken position 1 and sent its COMMIT, which the proxy holds; the higher
       * store then appends. Until the lower one commits or rolls back, nothing is shown past what is committed below.
       */
      const raceBehindOpenTransaction = async () => {
        const schema = newSchema();
        const lower = await open(schema, { port: proxy.port });
        const higherName = appName();
        const higher = await open(schema, { applicationName: higherName });
        const reader = new SubscriptionReader(higher.subscribeToAll(0));
        const first = reader.take(1);

        const hold = proxy.holdNextCommit();
        const lowerEvent = makeEvent('Lower');
        const lowerStream = streamName('lower');
        const lowerAppend = lower.append(lowerStream, [lowerEvent], NO_STREAM);
        lowerAppend.catch(() => undefined);
        await hold.held;

        const higherEvent = makeEvent('Higher');
        let higherAnswered = false;
        const higherAppend = higher.append(streamName('higher'), [higherEvent], NO_STREAM).finally(() => (higherAnswered = true));
        await eventually('the higher append to be answered, or to wait for the open transaction', async () => higherAnswered || (await waitsForLock(higherName)));

        // What a reader sees is a prefix of the log; with position 1 still open, that is nothing at all.
        expect(positions(await higher.readAll({ after: 0, maxCount: 10 }))).toEqual([]);
        expect(await higher.headPosition()).toBe(0);
        return { higher, reader, first, hold, lowerEvent, lowerStream, lowerAppend, higherEvent, higherAppend };
      };

      it('when the lower one commits, a subscriber delivers both, the lower first', async () => {
        const race = await raceBehindOpenTransaction();
        race.hold.release();
        expect(await race.lowerAppend).toEqual({ nextExpectedRevision: 0, position: 1 });
        expect(await race.higherAppend).toEqual({ nextExpectedRevision: 0, position: 2 });
        const delivered = [...(await race.first), ...(await race.reader.take(1))];
        expect(delivered.map((e) => [e.position, e.eventId])).toEqual([
          [1, race.lowerEvent.eventId],
          [2, race.higherEvent.eventId],
        ]);
        await expectNothingBeforeMarker(race.higher, race.reader);
        race.reader.subscription.close();
      });

      it('when the lower one rolls back, a subscriber delivers just the higher one, with no hole in the positions', async () => {
        const race = await raceBehindOpenTransaction();
        race.hold.cut();
        await rejectionOf(race.lowerAppend);
        expect(await race.higherAppend).toEqual({ nextExpectedRevision: 0, position: 1 });
        expect((await race.first).map((e) => [e.position, e.eventId])).toEqual([[1, race.higherEvent.eventId]]);
        expect(await race.higher.readStream(race.lowerStream)).toEqual([]);
        await expectNothingBeforeMarker(race.higher, race.reader);
        race.reader.subscription.close();
      });
    });

    describe('two processes on one store', () => {
      /** `a` (through the proxy) appends and its COMMIT is held; `b` appends after reading the stream as it was. */
      const behindHeldCommit = async (setup: (a: EventStore, b: EventStore, stream: string) => Promise<void>) => {
        const schema = newSchema();
        const aName = appName();
        const a = await open(schema, { port: proxy.port, applicationName: aName });
        const bName = appName();
        const b = await open(schema, { applicationName: bName });
        const stream = streamName('inventory');
        await setup(a, b, stream);
        return { a, aName, b, bName, stream };
      };

      it('appending to one stream at the same expected revision: one wins, the other is refused, alone in its batch', async () => {
        const { a, aName, b, bName, stream } = await behindHeldCommit((_a, b, s) => b.append(s, makeEvents(1), NO_STREAM).then(() => undefined));
        const hold = proxy.holdNextCommit();
        const winner = a.append(stream, makeEvents(2), 0);
        await hold.held;
        // The batch's statements travel with its COMMIT: wait until the server has run them (the head row is a's).
        await eventually('the first writer to hold the head row', () => holdsItsTransaction(aName));
        // b waits for the head row a holds, then finds the stream at revision 2.
        const loser = expectWrongRevision(b.append(stream, makeEvents(1), 0), stream, 0, 2);
        // In the same transaction as the loser (same turn): the refusal does not fail this one.
        const bystander = b.append(streamName('other'), makeEvents(1), NO_STREAM);
        await eventually('the second writer to wait for the first', () => waitsForLock(bName));
        hold.release();
        expect(await winner).toEqual({ nextExpectedRevision: 2, position: 3 });
        await loser;
        // The loser's positions were rolled back with it: the bystander's follows the winner's, no hole.
        expect(await bystander).toEqual({ nextExpectedRevision: 0, position: 4 });
        expect((await b.readStream(stream)).map((e) => e.revision)).toEqual([0, 1, 2]);
        expect(await b.headPosition()).toBe(4);
      });

      it('the same append retried by another process while the first is in flight: both get the original result, one copy', async () => {
        const { a, aName, b, bName, stream } = await behindHeldCommit(async () => undefined);
        const events = makeEvents(2);
        const hold = proxy.holdNextCommit();
        const original = a.append(stream, events, NO_STREAM);
        await hold.held;
        await eventually('the original to hold the head row', () => holdsItsTransaction(aName));
        const retry = b.append(stream, events, NO_STREAM);
        await eventually('the retry to wait for the original', () => waitsForLock(bName));
        hold.release();
        expect(await original).toEqual({ nextExpectedRevision: 1, position: 2 });
        expect(await retry).toEqual({ nextExpectedRevision: 1, position: 2 });
        expect(ids(await b.readStream(stream))).toEqual(ids(events));
        expect(await b.headPosition()).toBe(2);
      });

      it('open the same new schema at once, and each sees the others\' appends', async () => {
        const schema = newSchema();
        const stores = await Promise.all([open(schema), open(schema), open(schema)]);
        const [first, second, third] = stores as [EventStore, EventStore, EventStore];
        const stream = streamName();
        await first.append(stream, makeEvents(1), NO_STREAM);
        await second.append(stream, makeEvents(1), 0);
        expect((await third.readStream(stream)).map((e) => e.revision)).toEqual([0, 1]);
      });
    });

    it('commits the appends of one turn in one transaction, and those made while it is in flight in the next one', async () => {
      const store = await open(newSchema(), { port: proxy.port });
      const before = proxy.commits;
      const hold = proxy.holdNextCommit();
      const first = Array.from({ length: 5 }, () => store.append(streamName('buyer'), makeEvents(1), NO_STREAM));
      await hold.held;
      const queued: Array<Promise<{ position: number }>> = [];
      for (let i = 0; i < 10; i++) {
        queued.push(store.append(streamName('buyer'), makeEvents(1), NO_STREAM));
        await new Promise((r) => setImmediate(r)); // each in a turn of its own, all while the first COMMIT is held
      }
      hold.release();
      expect((await Promise.all(first)).map((r) => r.position)).toEqual([1, 2, 3, 4, 5]);
      expect((await Promise.all(queued)).map((r) => r.position)).toEqual(Array.from({ length: 10 }, (_, i) => 6 + i));
      expect(proxy.commits - before).toBe(2);
    });

    // Never analysed, the planner takes the table for ten pages; analysed while empty, for nothing at all (autovacuum
    // may do that to a fresh store): on either, a plan made young and kept would scan for the event ids.
    it.each([['never analysed'], ['analysed while empty']])('plans appends against the table as it grows (%s): none reads the grown table through a sequential scan', async (state) => {
      const schema = newSchema();
      const store = await open(schema);
      if (state === 'analysed while empty') await db.query(`ANALYZE ${schema}.events`);
      // Single appends first, so the batch statement's plan is cached while the table is tiny; then the table grows.
      for (let i = 0; i < 8; i++) await store.append(streamName('young'), makeEvents(1), NO_STREAM);
      await Promise.all(Array.from({ length: 40 }, () => store.append(streamName('bulk'), makeEvents(100), NO_STREAM)));
      const grown = Array.from({ length: 20 }, () => streamName('grown'));
      for (const stream of grown) await store.append(stream, makeEvents(2), NO_STREAM);
      expect(await store.readAll({ after: 4000, maxCount: 5 })).toHaveLength(5);
      expect(await store.readStream(grown[0] as string)).toHaveLength(2);
      // A backend publishes its counters when it exits: close the store, then wait for the writer's inserts to show.
      await store.close();
      opened.delete(store);
      let counters: { seq_tup_read: string; n_tup_ins: string } | undefined;
      await eventually(
        "the store's backends' counters",
        async () => {
          [counters] = await db.query<{ seq_tup_read: string; n_tup_ins: string }>(
            `SELECT seq_tup_read, n_tup_ins FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'events'`,
            [schema],
          );
          return Number(counters?.n_tup_ins) === 8 + 40 * 100 + 20 * 2;
        },
        { seen: () => counters },
      );
      // While the table was tiny a scan could be the better plan; one scan of the grown table alone would read 4,048 rows.
      expect(Number(counters?.seq_tup_read)).toBeLessThan(4_048);
    });

    it('answers the stream reads of one turn with one statement, each read its own events from its revision', async () => {
      const store = await open(newSchema(), { port: proxy.port });
      const streams = Array.from({ length: 40 }, (_, i) => ({ stream: streamName('buyer'), events: makeEvents(1 + (i % 3)) }));
      await Promise.all(streams.map(({ stream, events }) => store.append(stream, events, NO_STREAM)));
      const before = proxy.binds;
      const reads = await Promise.all([
        ...streams.map(({ stream }) => store.readStream(stream)),
        store.readStream(streamName('never-written')),
        store.readStream((streams[2] as { stream: string }).stream, 1),
      ]);
      expect(proxy.binds - before).toBe(1);
      streams.forEach(({ events }, i) => expect(ids(reads[i] as RecordedEvent[])).toEqual(ids(events)));
      expect(reads[40]).toEqual([]);
      expect((reads[41] as RecordedEvent[]).map((e) => e.revision)).toEqual([1, 2]);
      // Alone in its turn, a read is the one prepared statement it always was.
      expect(ids(await store.readStream((streams[0] as { stream: string }).stream))).toEqual(ids(streams[0]?.events ?? []));
      expect(proxy.binds - before).toBe(2);
    });

    it('a subscription asking for some types\' payloads (payloadOf) gets every event in order, the others without data or metadata', async () => {
      const schema = newSchema();
      const store = await open(schema);
      const streams = [streamName('buyer'), streamName('inventory')];
      const events = [
        makeEvent('QuotaClaimed', { userId: 'u-1' }, { correlationId: 'c-1' }),
        makeEvent('StockReserved', { orderId: 'o-1', nested: { list: [1, 'x'] } }, { correlationId: 'c-1', schemaVersion: 2 }),
        makeEvent('OrderPlaced', { orderId: 'o-1' }, { correlationId: 'c-1' }),
        makeEvent('StockReserved', { orderId: 'o-2' }, { correlationId: 'c-2' }),
      ];
      await store.append(streams[0] as string, events.slice(0, 1), NO_STREAM);
      await store.append(streams[1] as string, events.slice(1), NO_STREAM);
      const all = await store.readAll({ after: 0, maxCount: 10 });
      const reader = new SubscriptionReader(store.subscribeToAll(0, { payloadOf: ['QuotaClaimed', 'OrderPlaced'] }));
      const followed = await reader.take(4);
      reader.subscription.close();
      // Everything but the payload is the log's, event for event.
      const bare = (e: RecordedEvent) => ({ eventId: e.eventId, type: e.type, streamId: e.streamId, revision: e.revision, position: e.position, recordedAt: e.recordedAt });
      expect(followed.map(bare)).toEqual(all.map(bare));
      // The types asked for come whole; the others with no data, and of their metadata the schema version alone.
      expect([followed[0], followed[2]]).toEqual([all[0], all[2]]);
      expect([followed[1], followed[3]].map((e) => ({ data: e?.data, metadata: e?.metadata }))).toEqual([
        { data: {}, metadata: { schemaVersion: 2 } },
        { data: {}, metadata: { schemaVersion: 1 } },
      ]);
      // Without the option a subscription reads every payload, as readAll does.
      const whole = new SubscriptionReader(store.subscribeToAll(0));
      expect(await whole.take(4)).toEqual(all);
      whole.subscription.close();

      // A stored JSON null of a type asked for is handed on as it is (decoding refuses it, as after the full read),
      // not dressed up as an event without its payload.
      await db.query(`UPDATE ${schema}.events SET data = 'null'::jsonb, metadata = 'null'::jsonb WHERE position = 3`);
      const again = new SubscriptionReader(store.subscribeToAll(0, { payloadOf: ['QuotaClaimed', 'OrderPlaced'] }));
      const damaged = (await again.take(4))[2];
      again.subscription.close();
      expect({ type: damaged?.type, data: damaged?.data, metadata: damaged?.metadata }).toEqual({ type: 'OrderPlaced', data: null, metadata: null });
      expect((await store.readAll({ after: 2, maxCount: 1 }))[0]?.data).toBeNull();
    });

    it('answers a stream read made just before close(), as it did before reads were batched', async () => {
      const store = await open(newSchema());
      const stream = streamName('buyer');
      await store.append(stream, makeEvents(2), NO_STREAM);
      const read = store.readStream(stream);
      await store.close();
      opened.delete(store);
      expect(await read).toHaveLength(2);
    });

    it('an append whose data the server refuses fails alone: the others of its transaction are written, positions contiguous', async () => {
      const store = await open(newSchema());
      // jsonb cannot hold U+0000: the batch statement fails on the server, and the appends are retried one by one.
      const appends = [
        store.append(streamName('before'), makeEvents(1), NO_STREAM),
        store.append(streamName('refused'), [makeEvent('Tested', { text: 'a\u0000b' })], NO_STREAM),
        store.append(streamName('after'), makeEvents(2), NO_STREAM),
      ];
      const [before, refused, after] = await Promise.allSettled(appends);
      expect(before).toEqual({ status: 'fulfilled', value: { nextExpectedRevision: 0, position: 1 } });
      expect(refused).toMatchObject({ status: 'rejected', reason: { code: '22P05' } });
      expect(after).toEqual({ status: 'fulfilled', value: { nextExpectedRevision: 1, position: 3 } });
      expect(positions(await store.readAll({ after: 0, maxCount: 10 }))).toEqual([1, 2, 3]);
    });

    it('an append whose answer is lost, then retried with the same ids, leaves exactly one copy', async () => {
      const store = await open(newSchema(), { port: proxy.port });
      const stream = streamName('buyer');
      const events = makeEvents(2, 'QuotaClaimed');
      const dropped = proxy.dropNextCommitReply();
      const lost = await rejectionOf(store.append(stream, events, NO_STREAM));
      await dropped; // committed on the server; the connection was cut before its answer
      expect(lost).toBeInstanceOf(Error);

      expect(await store.append(stream, events, NO_STREAM)).toEqual({ nextExpectedRevision: 1, position: 2 });
      expect(ids(await store.readStream(stream))).toEqual(ids(events));
      expect(await store.headPosition()).toBe(2);
      expect(await store.append(stream, makeEvents(1), 1)).toEqual({ nextExpectedRevision: 2, position: 3 });
    });

    it('a subscription whose LISTEN connection is killed reconnects and goes on: no gap, no duplicate', async () => {
      const schema = newSchema();
      const followerName = appName();
      const follower = await open(schema, { applicationName: followerName });
      const writer = await open(schema);
      const stream = streamName();
      const reader = new SubscriptionReader(follower.subscribeToAll(0));
      // From another store instance: only a notification (or the 60 s poll) can wake the follower.
      await writer.append(stream, makeEvents(2), NO_STREAM);
      expect(positions(await reader.take(2))).toEqual([1, 2]);

      const listener = await backendOf(`${followerName}-listener`);
      expect(listener).toEqual(expect.any(Number));
      await db.query('SELECT pg_terminate_backend($1)', [listener]);
      // Appended while the listener may still be away: its notification is lost, the reconnect finds the event.
      await writer.append(stream, makeEvents(1), 1);
      expect(positions(await reader.take(1))).toEqual([3]);

      await eventually('a new LISTEN connection', async () => {
        const pid = await backendOf(`${followerName}-listener`);
        return pid !== undefined && pid !== listener;
      });
      await writer.append(stream, makeEvents(1), 2);
      expect(positions(await reader.take(1))).toEqual([4]);
      await expectNothingBeforeMarker(writer, reader);
      reader.subscription.close();
    });

    it('fails to open, naming the database, when it does not exist', async () => {
      const missing = `${db.name}_missing`;
      const error = await rejectionOf(PostgresEventStore.connect(withDatabase(db.url, missing)));
      expect(String(error)).toContain(`cannot open the PostgreSQL event store at ${withDatabase(db.url, missing)}`);
      expect(String(error)).toContain('does not exist');
    });
  });

  describe('as a read-only log reader (the audit and projections CLIs)', () => {
    /** What the sequential reader hands out for a RecordedEvent: its metadata reduced to the schema version. */
    const asLogEvent = (r: RecordedEvent) => ({
      position: r.position,
      streamId: r.streamId,
      revision: r.revision,
      eventId: r.eventId,
      type: r.type,
      data: r.data,
      schemaVersion: typeof r.metadata.schemaVersion === 'number' ? r.metadata.schemaVersion : 1,
      recordedAt: r.recordedAt,
    });
    const TYPES = ['OrderPlaced', 'QuotaClaimed', 'Other'];

    it('reads the same events as readAll, page after page, by type, up to upTo, and never writes', async () => {
      const schema = newSchema();
      const writer = await open(schema);
      const streams = [streamName(), streamName(), streamName()];
      for (let i = 0; i < 40; i++) {
        const metadata = i % 7 === 3 ? { schemaVersion: 2, correlationId: `c${i}` } : {};
        await writer.append(streams[i % 3] as string, [makeEvent(TYPES[i % 3], { i, nested: { list: [i, `x${i}`] } }, metadata)], i < 3 ? NO_STREAM : Math.floor(i / 3) - 1);
      }
      const all = await writer.readAll({ after: 0, maxCount: 100 });
      const reader = await open(schema, { readonly: true });

      expect(await reader.headPosition()).toBe(40);
      const page = await reader.readPage({ after: 5, upTo: 12, maxCount: 100 });
      expect(page).toEqual({ events: all.slice(5, 12).map(asLogEvent), through: 12 });
      expect(await reader.readPage({ after: 12, upTo: 12, maxCount: 100 })).toEqual({ events: [], through: 12 });
      await expect(reader.readPage({ after: 0, upTo: 12, maxCount: 0 })).rejects.toThrow(RangeError);

      // A full page ends at its last event; the last one covers the range up to upTo, skipped events included.
      const wanted = all.filter((e) => e.type === 'OrderPlaced' || e.type === 'Other');
      const pages = [];
      for (let after = 0; after < 40; ) {
        const next = await reader.readPayloads({ after, upTo: 40, maxCount: 7, types: ['OrderPlaced', 'Other'] });
        pages.push(next);
        after = next.through;
      }
      expect(pages.flatMap((p) => p.events)).toEqual(wanted.map(asLogEvent).map(({ position, type, data, schemaVersion, recordedAt }) => ({ position, type, data, schemaVersion, recordedAt })));
      for (const p of pages.slice(0, -1)) expect(p.through).toBe(p.events.at(-1)?.position);
      expect(pages.at(-1)?.through).toBe(40);

      // Its sessions are read-only on the server: a write fails there, and nothing was written.
      await expect(reader.append(streamName(), [makeEvent()], NO_STREAM)).rejects.toThrow(/read-only transaction/);
      expect(await writer.headPosition()).toBe(40);
    });

    it('refuses a database without the store instead of creating it', async () => {
      const schema = newSchema();
      const error = await rejectionOf(PostgresEventStore.connect(db.url, { schema, readonly: true }));
      expect(String(error)).toContain(`no event store there (no ${schema}.events table)`);
      expect(await db.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).toEqual([]);
    });
  });
});
