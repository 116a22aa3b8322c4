import { randomUUID } from 'node:crypto';
import { eventually, settlesWithin } from '../eventually';
import { EsdbStandIn, startEsdbStandIn } from './esdb-stand-in';

/**
 * The suite both client packages run against the TEST-ONLY EventStoreDB stand-in (NOT EventStoreDB), each from a
 * test file of its own: the packages' generated protobuf code shares one global namespace, so the two cannot be
 * loaded in one Jest test file (see esdb-stand-in.ts). Each runs once with BatchAppend advertised (what a real server
 * does, and what the clients then use) and once without (the clients fall back to Append).
 */
export type ClientName = 'esdb' | 'kurrentdb';

const collect = async <T>(iterable: AsyncIterable<T>): Promise<T[]> => {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
};

/** `lib` is the client package's module; `connect` makes a client from a connection string. */
export const standInSuite = (name: ClientName, lib: any, connect: (url: string) => any): void => {
  /** The option naming the expectation: `expectedRevision` in @eventstore/db-client 6.x, `streamState` in kurrentdb. */
  const expecting = (state: unknown): any => (name === 'esdb' ? { expectedRevision: state } : { streamState: state });
  /** The error's fields: `expectedVersion`/`actualVersion` in @eventstore/db-client, `expectedState`/`actualState` in kurrentdb. */
  const wrongVersion = (expected: unknown, actual: unknown): object =>
    name === 'esdb' ? { expectedVersion: expected, actualVersion: actual } : { expectedState: expected, actualState: actual };
describe.each([true, false])(`esdb stand-in (test-only, not EventStoreDB) through ${name}, BatchAppend advertised: %s`, (batchAppend) => {
  let standIn: EsdbStandIn;
  let client: any;
  const C = () => lib;
  const event = (type: string, data: object = {}, id?: string) => C().jsonEvent({ type, data, ...(id ? { id } : {}) });
  const stream = (what: string) => `${what}-${randomUUID()}`;

  beforeAll(async () => {
    standIn = await startEsdbStandIn({ batchAppend, statsPeriodMs: 0 });
    client = connect(standIn.url(name));
  });

  /** Subscriptions a test opened: ended after it, pass or fail, so none outlives its test. */
  const open: any[] = [];
  const track = (subscription: any): any => {
    subscription.errors = [] as unknown[];
    subscription.on('error', (error: unknown) => subscription.errors.push(error));
    open.push(subscription);
    return subscription;
  };
  const subscribeToAll = (options: object): any => track(client.subscribeToAll(options));

  afterEach(async () => {
    for (const subscription of open.splice(0)) await subscription.unsubscribe();
  });

  afterAll(async () => {
    await client.dispose();
    await standIn.close();
  });

  it('appends and reads a stream back, forwards and backwards, with revisions and a count', async () => {
    const s = stream('order');
    const first = await client.appendToStream(s, [event('OrderPlaced', { n: 1 }), event('OrderPaid', { n: 2 })], expecting(C().NO_STREAM));
    expect(first.success).toBe(true);
    expect(first.nextExpectedRevision).toBe(1n);
    await client.appendToStream(s, event('OrderShipped', { n: 3 }), expecting(1n));

    const forwards = await collect<any>(client.readStream(s));
    expect(forwards.map((e) => [e.event.type, e.event.revision, e.event.data])).toEqual([
      ['OrderPlaced', 0n, { n: 1 }],
      ['OrderPaid', 1n, { n: 2 }],
      ['OrderShipped', 2n, { n: 3 }],
    ]);
    expect(forwards[0].event.created).toBeInstanceOf(Date);
    const backwards = await collect<any>(client.readStream(s, { direction: C().BACKWARDS, fromRevision: C().END, maxCount: 2 }));
    expect(backwards.map((e) => e.event.revision)).toEqual([2n, 1n]);
    const fromOne = await collect<any>(client.readStream(s, { fromRevision: 1n, maxCount: 1 }));
    expect(fromOne.map((e) => e.event.type)).toEqual(['OrderPaid']);
  });

  it('reports a missing stream as StreamNotFoundError', async () => {
    await expect(collect(client.readStream(stream('nothing')))).rejects.toBeInstanceOf(C().StreamNotFoundError);
  });

  it('refuses a stale expected revision with WrongExpectedVersionError carrying the actual revision', async () => {
    const s = stream('shard');
    await client.appendToStream(s, [event('A'), event('B'), event('C')], expecting(C().NO_STREAM));
    const stale = client.appendToStream(s, event('D'), expecting(0n));
    await expect(stale).rejects.toBeInstanceOf(C().WrongExpectedVersionError);
    await expect(stale).rejects.toMatchObject({ streamName: s, ...wrongVersion(0n, 2n) });
    await expect(client.appendToStream(s, event('E'), expecting(C().NO_STREAM))).rejects.toMatchObject(wrongVersion('no_stream', 2n));
    await expect(client.appendToStream(stream('none'), event('F'), expecting(C().STREAM_EXISTS))).rejects.toBeInstanceOf(
      C().WrongExpectedVersionError,
    );
    expect((await collect(client.readStream(s))).length).toBe(3);
  });

  it('refuses an append over the maximum append size whole, with MaxAppendSizeExceededError', async () => {
    const s = stream('big');
    const big = event('Big', { blob: 'x'.repeat(1_048_576) });
    await expect(client.appendToStream(s, big)).rejects.toMatchObject({ type: 'maximum-append-size-exceeded', maxAppendSize: 1_048_576 });
    expect((await standIn.events()).filter((e) => e.streamId === s)).toEqual([]);
  });

  it('answers a retry with the same event ids and expected revision as success, without writing again', async () => {
    const s = stream('retry');
    await client.appendToStream(s, event('Opened'), expecting(C().NO_STREAM));
    const ids = [randomUUID(), randomUUID()];
    const batch = () => [event('Reserved', { q: 1 }, ids[0]), event('Reserved', { q: 2 }, ids[1])];
    const original = await client.appendToStream(s, batch(), expecting(0n));
    await expect(client.appendToStream(s, batch(), expecting(0n))).resolves.toEqual({
      success: true,
      nextExpectedRevision: original.nextExpectedRevision,
      position: original.position,
    });
    expect((await collect(client.readStream(s))).length).toBe(3);
    // Only the first id already written: not a retry, and not writable at that revision either.
    await expect(client.appendToStream(s, [event('Reserved', {}, ids[0]), event('Other')], expecting(0n))).rejects.toBeInstanceOf(
      C().WrongExpectedVersionError,
    );
  });

  it('gives sparse $all positions that grow with each record, and pages $all by position both ways', async () => {
    const s = stream('page');
    for (let i = 0; i < 5; i++) await client.appendToStream(s, event('Paged', { i, pad: 'x'.repeat(i * 10) }));
    const all = (await collect<any>(client.readAll())).filter((e) => e.event.streamId === s);
    const positions = all.map((e) => e.event.position.commit as bigint);
    expect(all.map((e) => e.event.data.i)).toEqual([0, 1, 2, 3, 4]);
    for (let i = 1; i < positions.length; i++) expect(positions[i]! - positions[i - 1]!).toBeGreaterThan(1n);
    expect(new Set(positions.slice(1).map((p, i) => p - positions[i]!)).size).toBeGreaterThan(1);

    const page2 = await collect<any>(client.readAll({ fromPosition: all[2].event.position, maxCount: 2 }));
    expect(page2.map((e) => e.event.data.i)).toEqual([2, 3]);
    const before = await collect<any>(client.readAll({ fromPosition: all[2].event.position, direction: C().BACKWARDS, maxCount: 2 }));
    expect(before.map((e) => e.event.data.i)).toEqual([1, 0]);
    const fromEnd = await collect<any>(client.readAll({ fromPosition: C().END, direction: C().BACKWARDS, maxCount: 1 }));
    expect(fromEnd[0].event.data.i).toBe(4);
  });

  it('holds system events in $all that an excludeSystemEvents() subscription leaves out', async () => {
    await standIn.append('$stats-test', [{ type: '$statsCollected' }]);
    await client.appendToStream(stream('user'), event('UserVisible'));
    const all = await collect<any>(client.readAll());
    expect(all.filter((e) => e.event.streamId.startsWith('$') && e.event.type.startsWith('$')).length).toBeGreaterThanOrEqual(3);

    const received: any[] = [];
    let caughtUp = false;
    const subscription = subscribeToAll({ fromPosition: C().START, filter: C().excludeSystemEvents() });
    subscription.on('data', (e: any) => received.push(e.event));
    subscription.on('caughtUp', () => (caughtUp = true));
    await eventually('caught up', () => caughtUp);
    expect(received.map((e) => e.type)).toContain('UserVisible');
    expect(received.filter((e) => e.type.startsWith('$'))).toEqual([]);
    if (name === 'kurrentdb') {
      // @eventstore/db-client 6.x reads $all without a filter; kurrentdb's (through its Rust bridge) sends one.
      const filtered = await collect<any>(client.readAll({ filter: C().excludeSystemEvents() }));
      expect(filtered.map((e) => e.event.type)).toContain('UserVisible');
      expect(filtered.filter((e) => e.event.type.startsWith('$'))).toEqual([]);
    }
  });

  it('streams a filtered $all subscription from a checkpoint: history after it, checkpoints, then live events', async () => {
    const tag = randomUUID().slice(0, 8);
    const s = stream(`sub${tag}`);
    await client.appendToStream(s, [event(`Before${tag}`, { k: 0 })]);
    const from = (await collect<any>(client.readAll({ direction: C().BACKWARDS, fromPosition: C().END, maxCount: 1 })))[0].event.position;
    await client.appendToStream(s, [event(`Seen${tag}`, { k: 1 }), event('Noise', {})]);

    const received: any[] = [];
    const checkpoints: bigint[] = [];
    let caughtUp = false;
    const filter = C().eventTypeFilter({
      // `Before…` matches too: only the starting point keeps it out (a subscription starts after its position).
      prefixes: [`Before${tag}`, `Seen${tag}`, `Live${tag}`],
      maxSearchWindow: 1,
      checkpointInterval: 1,
      checkpointReached: async (_s: unknown, position: { commit: bigint }) => void checkpoints.push(position.commit),
    });
    const subscription = subscribeToAll({ fromPosition: from, filter });
    subscription.on('data', (e: any) => received.push(e.event));
    subscription.on('caughtUp', () => (caughtUp = true));
    await eventually('caught up', () => caughtUp);
    await client.appendToStream(s, [event(`Live${tag}`, { k: 2 })]);
    await eventually('the live event', () => received.some((e) => e.type === `Live${tag}`), { seen: () => received.map((e) => e.type) });
    const live = received.find((e) => e.type === `Live${tag}`);
    // A window of 1 × multiplier 1: after the first page of the history (Seen), then after each live event.
    await eventually('the checkpoint at the live event', () => checkpoints.includes(live.position.commit), { seen: () => checkpoints });

    expect(received.map((e) => e.data.k)).toEqual([1, 2]);
    expect(checkpoints.length).toBeGreaterThanOrEqual(2);
    expect(checkpoints.filter((position) => position <= from.commit)).toEqual([]);
  });

  it('sends checkpoints while a filter matches nothing, so a consumer learns how far the scan went', async () => {
    const s = stream('unmatched');
    const from = (await collect<any>(client.readAll({ direction: C().BACKWARDS, fromPosition: C().END, maxCount: 1 })))[0].event.position;
    await client.appendToStream(s, Array.from({ length: 40 }, (_, i) => event('Unmatched', { i })));
    const checkpoints: bigint[] = [];
    const received: unknown[] = [];
    let caughtUp = false;
    // The default window (32) × multiplier 1: one checkpoint after the first page of 32, none at the end of the log.
    const filter = C().eventTypeFilter({
      prefixes: [`Nothing-${randomUUID()}`],
      checkpointReached: async (_s: unknown, position: { commit: bigint }) => void checkpoints.push(position.commit),
    });
    const subscription = subscribeToAll({ fromPosition: from, filter });
    subscription.on('data', (e: unknown) => received.push(e));
    subscription.on('caughtUp', () => (caughtUp = true));
    await eventually('caught up', () => caughtUp);
    expect(received).toEqual([]);
    expect(checkpoints).toHaveLength(1);
    expect(checkpoints[0]! > from.commit).toBe(true);
  });

  it('streams a stream subscription from a revision: the events after it, caught-up, then live ones', async () => {
    const s = stream('followed');
    await client.appendToStream(s, [event('E', { n: 0 }), event('E', { n: 1 }), event('E', { n: 2 })]);
    const subscription = track(client.subscribeToStream(s, { fromRevision: 0n }));
    const received: any[] = [];
    let caughtUp = false;
    subscription.on('data', (e: any) => received.push(e.event));
    subscription.on('caughtUp', () => (caughtUp = true));
    await eventually('caught up', () => caughtUp);
    await client.appendToStream(stream('other'), event('Elsewhere'));
    await client.appendToStream(s, event('E', { n: 3 }));
    await eventually('the live event', () => received.length === 3, { seen: () => received.map((e) => e.data) });
    expect(received.map((e) => [e.revision, e.data.n])).toEqual([
      [1n, 1],
      [2n, 2],
      [3n, 3],
    ]);
  });

  it('commits an append whose response it then drops (UNAVAILABLE), and the same-id retry succeeds without a second write', async () => {
    const s = stream('dropped');
    const id = randomUUID();
    await standIn.dropNextAppendResponse();
    await expect(client.appendToStream(s, event('Placed', {}, id), expecting(C().NO_STREAM))).rejects.toBeInstanceOf(C().UnavailableError);
    expect((await standIn.events()).filter((e) => e.streamId === s)).toHaveLength(1);
    const before = await standIn.appendRequests();
    const retry = settlesWithin('the retry', client.appendToStream(s, event('Placed', {}, id), expecting(C().NO_STREAM)));
    await expect(retry).resolves.toMatchObject({ success: true, nextExpectedRevision: 0n });
    expect(await standIn.appendRequests()).toBe(before + 1);
    expect((await collect(client.readStream(s))).length).toBe(1);
  });

  it('respects the deadline of a delayed append: the client sees it exceeded and nothing is written', async () => {
    const s = stream('late');
    await standIn.delayNextAppend(1_500);
    await expect(client.appendToStream(s, event('TooLate'), { ...expecting(C().ANY), deadline: 300 })).rejects.toBeInstanceOf(
      C().DeadlineExceededError,
    );
    // Past the delay, the server has decided: it wrote nothing.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await standIn.events()).filter((e) => e.streamId === s)).toEqual([]);
  });

  it('can write a delayed append after answering its deadline exceeded: the unknown outcome a same-id retry settles', async () => {
    const s = stream('late-but-written');
    const id = randomUUID();
    await standIn.delayNextAppend(1_000, { commitAfterDeadline: true });
    await expect(client.appendToStream(s, event('Landed', {}, id), { ...expecting(C().NO_STREAM), deadline: 300 })).rejects.toBeInstanceOf(
      C().DeadlineExceededError,
    );
    await eventually('the late write', async () => (await standIn.events()).some((e) => e.streamId === s));
    await expect(client.appendToStream(s, event('Landed', {}, id), expecting(C().NO_STREAM))).resolves.toMatchObject({
      success: true,
      nextExpectedRevision: 0n,
    });
    expect((await collect(client.readStream(s))).length).toBe(1);
  });

  it('ends live subscriptions with UNAVAILABLE when it kills every connection, and serves again after', async () => {
    const subscription = subscribeToAll({ fromPosition: C().END });
    const errors: unknown[] = subscription.errors;
    subscription.on('data', () => undefined);
    await eventually('the subscription is confirmed', () => subscription.id !== undefined);
    await standIn.killConnections();
    await eventually('the subscription fails', () => errors.length > 0);
    expect(errors[0]).toBeInstanceOf(C().UnavailableError);
    const s = stream('after-kill');
    await eventually('the client appends again', async () => {
      try {
        await client.appendToStream(s, event('Again', {}, '1b1d0c64-6a8c-4d4e-9d6a-3d1f0f6c2a11'));
        return true;
      } catch {
        return false;
      }
    });
    expect((await standIn.events()).filter((e) => e.streamId === s)).toHaveLength(1);
  });

  it('answers gossip, so a +discover connection string finds it as the leader', async () => {
    const discovering = connect(standIn.url(name).replace('://', '+discover://'));
    try {
      const s = stream('discovered');
      await discovering.appendToStream(s, event('Found'));
      expect((await collect<any>(discovering.readStream(s))).map((e) => e.event.type)).toEqual(['Found']);
    } finally {
      await discovering.dispose();
    }
  });

  it('keeps the log across restart() on the same port', async () => {
    const s = stream('restart');
    await client.appendToStream(s, event('Kept'));
    await standIn.restart();
    await eventually('the client reconnects', async () => {
      try {
        return (await collect(client.readStream(s))).length === 1;
      } catch {
        return false;
      }
    });
  });
});
};
