import { availableStock, inventoryStream, OrderPlaced, ShardConfig, SoldOut } from '@flash/domain';
import {
  AppendOptions,
  AppendResult,
  encodeEvent,
  EventData,
  EventStore,
  ExpectedRevision,
  MemoryEventStore,
  NO_STREAM,
  RecordedEvent,
  WrongExpectedRevision,
} from '@flash/event-store';
import { Clock } from '../clock';
import { ShardUnavailable, ShardWriter } from './shard-writer';

const config: ShardConfig = { saleId: 'sale-1', shard: 0, allocated: 3, inventoryMode: 'reserve', holdTtlMs: 60_000, unitPrice: 500 };
const stream = inventoryStream(config.saleId, config.shard);
const clock: Clock = { now: () => 1_000 };
const reserve = (orderId: string, quantity = 1) => ({ type: 'ReserveStock' as const, orderId, userId: `u-${orderId}`, quantity });

/** A store that forwards to memory and lets a test see, hold or fail appends. */
class ScriptedStore implements EventStore {
  readonly inner = new MemoryEventStore(() => 1_000);
  readonly appends: { streamId: string; types: string[]; expected: ExpectedRevision }[] = [];
  /** Runs before each append reaches the inner store; may throw to fail it. */
  beforeAppend: (call: number) => Promise<void> | void = () => undefined;
  failReads = false;
  /** The revision each stream read started from. */
  readonly reads: number[] = [];

  async append(streamId: string, events: readonly EventData[], expected: ExpectedRevision, _options?: AppendOptions): Promise<AppendResult> {
    this.appends.push({ streamId, types: events.map((e) => e.type), expected });
    await this.beforeAppend(this.appends.length);
    return this.inner.append(streamId, events, expected);
  }
  readStream(streamId: string, fromRevision?: number): Promise<RecordedEvent[]> {
    if (this.failReads) return Promise.reject(new Error('store down'));
    this.reads.push(fromRevision ?? 0);
    return this.inner.readStream(streamId, fromRevision);
  }
  readAll: EventStore['readAll'] = (options) => this.inner.readAll(options);
  subscribeToAll: EventStore['subscribeToAll'] = (from) => this.inner.subscribeToAll(from);
  whenDurable: EventStore['whenDurable'] = (position) => this.inner.whenDurable(position);
  headPosition: EventStore['headPosition'] = () => this.inner.headPosition();
  close: EventStore['close'] = () => this.inner.close();
}

const typesIn = async (store: EventStore): Promise<string[]> => (await store.readStream(stream)).map((e) => e.type);

describe('ShardWriter', () => {
  it('decides a batch in order against one state and appends it in one call with the revision it decided on', async () => {
    const store = new ScriptedStore();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    store.beforeAppend = (call) => (call === 1 ? held : undefined);
    const appended: number[] = [];
    const writer = await ShardWriter.load(store, clock, config, { maxBatch: 10, onAppended: (commands) => appended.push(commands) });

    const first = writer.submit(reserve('o1'));
    // While the first append is held, four more queue up: they must go as one batch.
    const rest = [writer.submit(reserve('o2')), writer.submit(reserve('o3', 2)), writer.submit(reserve('o4')), writer.submit(reserve('o5'))];
    expect(writer.queued).toBe(4);
    release();

    const o1 = await first;
    expect(o1.order).toMatchObject({ orderId: 'o1', status: 'reserved', quantity: 1, amount: 500, expiresAt: 61_000 });
    expect(o1.events.map((e) => e.type)).toStrictEqual(['StockReserved', 'OrderPlaced']);
    const settled = await Promise.allSettled(rest);
    // o2 takes the second unit; o3 wants 2 of the 1 left: sold out; o4 takes the last; o5 finds none.
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value.order?.status : (s.reason as Error).constructor.name))).toStrictEqual([
      'reserved',
      'SoldOut',
      'reserved',
      'SoldOut',
    ]);
    expect((settled[1] as PromiseRejectedResult).reason).toBeInstanceOf(SoldOut);
    expect(store.appends).toStrictEqual([
      { streamId: stream, types: ['StockReserved', 'OrderPlaced'], expected: NO_STREAM },
      { streamId: stream, types: ['StockReserved', 'OrderPlaced', 'StockReserved', 'OrderPlaced'], expected: 1 },
    ]);
    expect(writer.metrics).toStrictEqual({ batches: 2, commands: 5, conflicts: 0 });
    // The append observer counts the commands whose events went into each append: not the refused ones.
    expect(appended).toStrictEqual([1, 2]);
    expect(writer.state).toMatchObject({ reserved: 3, released: 0 });
    expect(settled[2]).toMatchObject({ status: 'fulfilled', value: { position: 6 } });
  });

  it('takes at most maxBatch commands per append', async () => {
    const store = new ScriptedStore();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    store.beforeAppend = (call) => (call === 1 ? held : undefined);
    const writer = await ShardWriter.load(store, clock, { ...config, allocated: 10 }, { maxBatch: 2 });
    const all = ['a', 'b', 'c', 'd', 'e'].map((id) => writer.submit(reserve(id)));
    release();
    await Promise.all(all);
    expect(store.appends.map((a) => a.types.length / 2)).toStrictEqual([1, 2, 2]); // the first alone (the queue was empty), then batches of two
    expect(writer.metrics.batches).toBe(3);
  });

  it('answers a repeated command with the first decision and appends nothing', async () => {
    const store = new ScriptedStore();
    const writer = await ShardWriter.load(store, clock, config, { maxBatch: 10 });
    const first = await writer.submit(reserve('o1'));
    const again = await writer.submit(reserve('o1'));
    expect(again.events).toStrictEqual([]);
    expect(again.order).toStrictEqual(first.order);
    expect(again.position).toBe(first.position);
    expect(store.appends).toHaveLength(1);
    expect(await typesIn(store)).toStrictEqual(['StockReserved', 'OrderPlaced']);
  });

  it('on a conflict re-reads the stream and decides the batch again against what another writer appended', async () => {
    const store = new ScriptedStore();
    const writer = await ShardWriter.load(store, clock, config, { maxBatch: 10 });
    // Another writer takes two units behind this writer's back.
    const foreign: OrderPlaced['data'] = {
      saleId: 'sale-1',
      shard: 0,
      orderId: 'x',
      userId: 'ux',
      quantity: 2,
      amount: 1000,
      status: 'reserved',
      stockTaken: true,
      placedAt: 1,
      expiresAt: 60_001,
    };
    await store.inner.append(
      stream,
      [
        encodeEvent(stream, { type: 'StockReserved', data: { saleId: 'sale-1', shard: 0, orderId: 'x', userId: 'ux', quantity: 2, reservedAt: 1 } }),
        encodeEvent(stream, { type: 'OrderPlaced', data: foreign }),
      ],
      NO_STREAM,
    );
    const results = await Promise.allSettled([writer.submit(reserve('o1')), writer.submit(reserve('o2'))]);
    expect(results[0]).toMatchObject({ status: 'fulfilled', value: { order: { orderId: 'o1' } } });
    expect(results[1]).toMatchObject({ status: 'rejected', reason: expect.any(SoldOut) });
    expect(store.appends.map((a) => a.expected)).toStrictEqual([NO_STREAM, 1]);
    expect(writer.metrics.conflicts).toBe(1);
    expect(writer.state).toMatchObject({ reserved: 3 });
    expect(writer.state.orders.has('x')).toBe(true);
    expect(await typesIn(store)).toStrictEqual(['StockReserved', 'OrderPlaced', 'StockReserved', 'OrderPlaced']);
  });

  it('after an append of unknown outcome that did land, a retry recognises it and appends nothing twice', async () => {
    const store = new ScriptedStore();
    const writer = await ShardWriter.load(store, clock, config, { maxBatch: 10 });
    // The first append lands, but its answer is lost.
    const original = store.append.bind(store);
    let lost = false;
    store.append = async (...args) => {
      const result = await original(...args);
      if (!lost) {
        lost = true;
        throw new Error('connection reset after the write');
      }
      return result;
    };
    const outcome = await writer.submit(reserve('o1'));
    expect(outcome.order).toMatchObject({ orderId: 'o1', status: 'reserved' });
    expect(await typesIn(store)).toStrictEqual(['StockReserved', 'OrderPlaced']);
    expect(writer.metrics.conflicts).toBe(1);
    expect(writer.state.reserved).toBe(1);
  });

  it('catches up at once with appends another process made, reading only what it missed: its next batch meets no conflict', async () => {
    const store = new ScriptedStore();
    const writer = await ShardWriter.load(store, clock, config, { maxBatch: 10 });
    await writer.submit(reserve('o1'));
    const foreign = (revision: number) =>
      store.inner.append(
        stream,
        [
          encodeEvent(stream, { type: 'ReservationExpired', data: { saleId: 'sale-1', shard: 0, orderId: 'o1', userId: 'u-o1', expiredAt: 2 } }),
          encodeEvent(stream, { type: 'StockReleased', data: { saleId: 'sale-1', shard: 0, orderId: 'o1', quantity: 1, reason: 'expired' } }),
        ],
        revision,
      );
    await foreign(1);
    store.reads.length = 0;

    writer.observe(1); // its own append: nothing to read
    await writer.fresh();
    expect(store.reads).toStrictEqual([]);
    writer.observe(3); // the worker's expiry: caught up at once, nobody asking
    await writer.flush();
    expect(store.reads).toStrictEqual([2]);
    expect(writer.state.orders.get('o1')).toMatchObject({ status: 'expired' });
    expect(availableStock(writer.state)).toBe(3);

    const o2 = await writer.submit(reserve('o2'));
    expect(o2.order).toMatchObject({ orderId: 'o2', status: 'reserved' });
    expect(writer.metrics.conflicts).toBe(0);
    expect(store.appends.map((a) => a.expected)).toStrictEqual([NO_STREAM, 3]);
  });

  it('gives up after maxAttempts with ShardUnavailable (retryable OVERLOADED) and keeps nothing it could not record', async () => {
    const store = new ScriptedStore();
    const writer = await ShardWriter.load(store, clock, config, { maxBatch: 10, maxAttempts: 3 });
    store.beforeAppend = () => {
      throw new WrongExpectedRevision(stream, 0, 1);
    };
    const error = await writer.submit(reserve('o1')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ShardUnavailable);
    expect(error).toMatchObject({ code: 'OVERLOADED' });
    expect(store.appends).toHaveLength(3);
    expect(writer.metrics).toMatchObject({ conflicts: 3, batches: 0, commands: 0 });
    // The cache was re-read from the store: the failed decision is not in it.
    expect(writer.state.reserved).toBe(0);
    expect(writer.state.orders.size).toBe(0);
    expect(writer.trusted).toBe(true);
  });

  it('when the stream cannot be re-read, fails the batch and refuses to decide on the stale cache until it can', async () => {
    const store = new ScriptedStore();
    const writer = await ShardWriter.load(store, clock, config, { maxBatch: 10 });
    store.beforeAppend = () => {
      store.failReads = true;
      throw new Error('store down');
    };
    await expect(writer.submit(reserve('o1'))).rejects.toBeInstanceOf(ShardUnavailable);
    expect(writer.trusted).toBe(false);

    store.beforeAppend = () => undefined;
    await expect(writer.submit(reserve('o2'))).rejects.toMatchObject({ code: 'OVERLOADED', details: { cause: 'the shard stream could not be read' } });
    expect(store.appends).toHaveLength(1);

    store.failReads = false;
    const o3 = await writer.submit(reserve('o3'));
    expect(writer.trusted).toBe(true);
    expect(o3.order).toMatchObject({ orderId: 'o3', status: 'reserved' });
    expect(await typesIn(store)).toStrictEqual(['StockReserved', 'OrderPlaced']);
    expect(writer.state.orders.has('o1')).toBe(false);
  });

  it('loads its state and revision from the stream, and flush waits for every queued command', async () => {
    const store = new ScriptedStore();
    const first = await ShardWriter.load(store, clock, config, { maxBatch: 10 });
    await first.submit(reserve('o1'));
    const second = await ShardWriter.load(store, clock, config, { maxBatch: 10 });
    expect(second.state).toMatchObject({ reserved: 1, allocated: 3 });
    expect(second.streamId).toBe(stream);
    const pending = second.submit(reserve('o2'));
    void second.submit(reserve('o3'));
    await second.flush();
    expect(second.queued).toBe(0);
    await pending;
    expect(store.appends.map((a) => a.expected)).toStrictEqual([NO_STREAM, 1, 3]);
    expect(second.state.reserved).toBe(3);
  });

  it('rejects a command the decider refuses without failing the others in its batch', async () => {
    const store = new ScriptedStore();
    const writer = await ShardWriter.load(store, clock, config, { maxBatch: 10 });
    const results = await Promise.allSettled([writer.submit(reserve('bad', 0)), writer.submit(reserve('good'))]);
    expect(results[0]).toMatchObject({ status: 'rejected', reason: { code: 'VALIDATION_FAILED' } });
    expect(results[1]).toMatchObject({ status: 'fulfilled', value: { order: { orderId: 'good' } } });
    expect(store.appends).toHaveLength(1);
  });
});
