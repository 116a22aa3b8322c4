/**
 * The EventStoreDB adapter's suite: the event-store contract plus its unknown-outcome tests, for one client package.
 * Each package has a spec file of its own (esdb-event-store.int-spec.ts, esdb-event-store.kurrentdb.int-spec.ts):
 * both register their protobuf classes in one global namespace, so one process (one jest file) must load only one.
 * It runs against a real server when ESDB_TEST_URL is set (e.g. esdb://127.0.0.1:2113?tls=false),
 * else against the TEST-ONLY gRPC stand-in (test/support/esdb-stand-in: NOT EventStoreDB), which also injects the
 * faults of the unknown-outcome tests. Each store opened here has a namespace of its own, so each starts empty even
 * on a shared real server.
 */
import { randomBytes } from 'node:crypto';
import { DuplicateEventId, NO_STREAM } from '../src/event-store.port';
import { eventStoreContract, expectNothingBeforeMarker, makeEvent, makeEvents, rejectionOf, streamName, SubscriptionReader } from './event-store.contract';
import { EsdbStandIn, startEsdbStandIn } from '../../../test/support/esdb-stand-in/esdb-stand-in';
import { AppendOutcomeUnknown, EsdbEventStore } from '../src/eventstoredb/esdb-event-store';
import { EsdbClientModule } from '../src/eventstoredb/client-module';

const REAL_SERVER = process.env.ESDB_TEST_URL || undefined;
const where = REAL_SERVER !== undefined ? 'EventStoreDB at ESDB_TEST_URL' : 'the test-only stand-in, NOT EventStoreDB';

const newNamespace = (): string => `t${randomBytes(6).toString('hex')}-`;

export const esdbAdapterSuite = (client: EsdbClientModule): void => {
  const packageName = client.packageName;
  describe(`EventStoreDB adapter with ${packageName}`, () => {
  let standIn: EsdbStandIn | undefined;
  let url = REAL_SERVER ?? '';
  const namespaces = new WeakMap<EsdbEventStore, string>();

  beforeAll(async () => {
    if (REAL_SERVER !== undefined) return;
    // System events every 50 ms: the contract then runs with $-events interleaved in $all, as on a real server.
    standIn = await startEsdbStandIn({ statsPeriodMs: 50 });
    url = standIn.url(client.packageName === '@kurrent/kurrentdb-client' ? 'kurrentdb' : 'esdb');
  });

  afterAll(async () => {
    await standIn?.close();
  });

  const connect = async (namespace: string, options: { deadlineMs?: number; appendAttempts?: number } = {}): Promise<EsdbEventStore> => {
    const store = await EsdbEventStore.connect({ url, client, namespace, retryDelayMs: 20, ...options });
    namespaces.set(store, namespace);
    return store;
  };

  eventStoreContract(`eventstoredb via ${packageName} (${where})`, {
    open: () => connect(newNamespace()),
    reopen: async (previous) => {
      const namespace = namespaces.get(previous as EsdbEventStore);
      if (namespace === undefined) throw new Error('not a store of this suite');
      await previous.close();
      return connect(namespace);
    },
    densePositions: false,
    uniqueEventIds: false,
  });

  describe(`store-wide ids of QuotaClaimed (${where})`, () => {
    let store: EsdbEventStore | undefined;
    afterEach(async () => {
      await store?.close();
    });

    it('a QuotaClaimed id already in one stream is refused in another (DuplicateEventId, nothing written), and its retry in its own stream is recognised', async () => {
      store = await connect(newNamespace());
      const claim = makeEvent('QuotaClaimed', { idempotencyKey: 'k1' });
      const first = await store.append(streamName('buyer'), [claim], NO_STREAM);
      const other = streamName('buyer');

      const refused = await rejectionOf(store.append(other, [claim], NO_STREAM));
      expect(refused).toBeInstanceOf(DuplicateEventId);
      expect(await store.readStream(other)).toEqual([]);

      const all = await store.readAll({ after: 0, maxCount: 100 });
      // The guards are not events of the log: only the one claim shows.
      expect(all.map((e) => [e.eventId, e.position])).toEqual([[claim.eventId, first.position]]);
      expect(await store.headPosition()).toBe(first.position);
      expect(await store.append(all[0]?.streamId ?? '', [claim], NO_STREAM)).toEqual(first);
    });
  });

  describe(`faults: unknown outcomes and cut connections (${where})`, () => {
    const stores: EsdbEventStore[] = [];
    afterEach(async () => {
      await Promise.all(stores.splice(0).map((s) => s.close()));
    });
    const open = async (options: { deadlineMs?: number; appendAttempts?: number } = {}): Promise<EsdbEventStore> => {
      const store = await connect(newNamespace(), options);
      stores.push(store);
      return store;
    };
    const faults = (): EsdbStandIn => {
      if (standIn === undefined) throw new Error('fault injection needs the stand-in');
      return standIn;
    };
    // A real server cannot be told to drop an answer: these run on the stand-in only.
    const withFaults = REAL_SERVER === undefined ? it : it.skip;

    withFaults('an append whose answer is dropped is retried with the same ids: the caller gets the stored result, and there is exactly one copy', async () => {
      const store = await open();
      const stream = streamName('inventory');
      const events = makeEvents(2, 'StockReserved');
      const before = await faults().appendRequests();
      await faults().dropNextAppendResponse();

      const result = await store.append(stream, events, NO_STREAM);

      expect(await faults().appendRequests()).toBe(before + 2); // the lost attempt and its retry
      const stored = await store.readStream(stream);
      expect(stored.map((e) => e.eventId)).toEqual(events.map((e) => e.eventId));
      expect(result).toEqual({ nextExpectedRevision: 1, position: stored[1]?.position });
      const all = await store.readAll({ after: 0, maxCount: 100 });
      expect(all.map((e) => e.eventId)).toEqual(events.map((e) => e.eventId));
      // The stream goes on from the confirmed revision.
      expect((await store.append(stream, makeEvents(1), result.nextExpectedRevision)).nextExpectedRevision).toBe(2);
    });

    withFaults('an append that passes its deadline is retried with the same ids and stored once', async () => {
      const store = await open({ deadlineMs: 300 });
      const stream = streamName('inventory');
      const events = makeEvents(2, 'StockReserved');
      await faults().delayNextAppend(1500);

      const result = await store.append(stream, events, NO_STREAM);

      const stored = await store.readStream(stream);
      expect(stored.map((e) => e.eventId)).toEqual(events.map((e) => e.eventId));
      expect(result).toEqual({ nextExpectedRevision: 1, position: stored[1]?.position });
    });

    withFaults('an append written after its deadline passed (the unknown outcome) is retried with the same ids: one copy, the stored result', async () => {
      const store = await open({ deadlineMs: 300 });
      const stream = streamName('inventory');
      const events = makeEvents(3, 'StockReserved');
      await faults().delayNextAppend(800, { commitAfterDeadline: true });

      const result = await store.append(stream, events, NO_STREAM);

      // Whichever landed first (the late first attempt or a retry), the other met it: exactly one copy. (A first attempt
      // still to land later would meet NO_STREAM on an existing stream: refused.)
      const stored = await store.readStream(stream);
      expect(stored.map((e) => e.eventId)).toEqual(events.map((e) => e.eventId));
      expect(result).toEqual({ nextExpectedRevision: 2, position: stored[2]?.position });
    });

    withFaults('a subscription whose connection is cut subscribes again from its last position: no gap, no duplicate', async () => {
      const store = await open();
      const stream = streamName('inventory');
      let revision = (await store.append(stream, makeEvents(3), NO_STREAM)).nextExpectedRevision;
      const reader = new SubscriptionReader(store.subscribeToAll(0));
      const before = await reader.take(3);

      await faults().killConnections();
      revision = (await store.append(stream, makeEvents(2), revision)).nextExpectedRevision;
      const after = await reader.take(2);

      expect([...before, ...after]).toEqual(await store.readAll({ after: 0, maxCount: 100 }));
      await expectNothingBeforeMarker(store, reader);
      expect(revision).toBe(4);
      reader.subscription.close();
    });

    withFaults('an append that never gets an answer is reported as an unknown outcome, never as a conflict or a success', async () => {
      const store = await open({ deadlineMs: 200, appendAttempts: 2 });
      const stream = streamName('inventory');
      await faults().stop();
      try {
        const error = await rejectionOf(store.append(stream, makeEvents(1), NO_STREAM));
        expect(error).toBeInstanceOf(AppendOutcomeUnknown);
        expect((error as Error).message).toMatch(/may or may not be stored/);
      } finally {
        await faults().restart();
      }
    });
  });
});
};
