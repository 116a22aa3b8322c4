import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import {
  BuyerEvent,
  buyerDecider,
  BuyerState,
  buyerStream,
  DomainEvent,
  EventType,
  fold,
  initialBuyerState,
  inventoryShardDecider,
  inventoryStream,
  Order,
  SaleDefinition,
  saleDecider,
  SaleEvent,
  SaleState,
  saleStream,
  ShardCommand,
  ShardEvent,
  ShardState,
} from '@flash/domain';
import {
  AppendOptions,
  AppendResult,
  CommandMetadata,
  decodeEvent,
  encodeEvent,
  EventData,
  EventStore,
  ExpectedRevision,
  MemoryEventStore,
  NO_STREAM,
  ReadAllOptions,
  RecordedEvent,
  reservationIdFor,
  SqliteEventStore,
  SubscribeOptions,
  Subscription,
} from '@flash/event-store';
import { BuyerQuota, ClaimantIndex, Clock, SaleInventory, shardConfig } from '@flash/command-side';
import {
  CheckpointStore,
  CompensationProcess,
  ExpiryProcess,
  ShardAccess,
  LogFollower,
  LogProcess,
  MemoryCheckpointStore,
  QuotaReleaseProcess,
  ShardCommandOutcome,
  SqliteCheckpointStore,
} from '../src';

/** 2030-01-01T00:00:00Z: every fixture sale opens here. */
export const T0 = Date.UTC(2030, 0, 1);
export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const DAY = 24 * 60 * MINUTE;

export const FOLLOWER_NAME = 'sagas';
const EVENTS_FILE = 'events.sqlite';
const CHECKPOINTS_FILE = 'worker.sqlite';

/** A clock that moves only when the test moves it, in either direction. */
export class FakeClock implements Clock {
  constructor(private t: number) {}

  readonly now = (): number => this.t;

  set(t: number): void {
    this.t = t;
  }

  advance(ms: number): void {
    this.t += ms;
  }
}

/** Test-only: a store that passes every call to `inner`. Fault-injecting decorators extend it and override what they disturb. */
export class ForwardingEventStore implements EventStore {
  constructor(readonly inner: EventStore) {}

  append(streamId: string, events: readonly EventData[], expected: ExpectedRevision, options?: AppendOptions): Promise<AppendResult> {
    return this.inner.append(streamId, events, expected, options);
  }

  readStream(streamId: string, fromRevision?: number): Promise<RecordedEvent[]> {
    return this.inner.readStream(streamId, fromRevision);
  }

  readAll(options: ReadAllOptions): Promise<RecordedEvent[]> {
    return this.inner.readAll(options);
  }

  headPosition(): Promise<number> {
    return this.inner.headPosition();
  }

  whenDurable(position: number): Promise<void> {
    return this.inner.whenDurable(position);
  }

  subscribeToAll(after: number, options?: SubscribeOptions): Subscription {
    return this.inner.subscribeToAll(after, options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The next `remaining` operations on streams whose id starts with `prefix` fail. */
interface Fault {
  readonly prefix: string;
  remaining: number;
}

/**
 * A pass-through event store that can make appends to (or reads of) chosen streams wait or fail, like a sick disk
 * or an unreachable server: a failed append stores nothing.
 */
export class FaultyEventStore extends ForwardingEventStore {
  private readonly appendFaults: Fault[] = [];
  private readonly readFaults: Fault[] = [];
  private held: { readonly prefix: string; readonly released: Promise<void> } | undefined;

  failAppends(prefix: string, count: number): void {
    this.appendFaults.push({ prefix, remaining: count });
  }

  failReads(prefix: string, count: number): void {
    this.readFaults.push({ prefix, remaining: count });
  }

  /** Appends to matching streams wait until the returned function is called (then go on, or fail if told to). */
  holdAppends(prefix: string): () => void {
    let release = (): void => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    this.held = { prefix, released };
    return () => {
      this.held = undefined;
      release();
    };
  }

  override async append(streamId: string, events: readonly EventData[], expected: ExpectedRevision, options?: AppendOptions): Promise<AppendResult> {
    if (this.held && streamId.startsWith(this.held.prefix)) await this.held.released;
    if (takeFault(this.appendFaults, streamId)) throw new Error(`injected fault: append to ${streamId} failed`);
    return this.inner.append(streamId, events, expected, options);
  }

  override async readStream(streamId: string, fromRevision?: number): Promise<RecordedEvent[]> {
    if (takeFault(this.readFaults, streamId)) throw new Error(`injected fault: read of ${streamId} failed`);
    return this.inner.readStream(streamId, fromRevision);
  }
}

const takeFault = (faults: Fault[], streamId: string): boolean => {
  const fault = faults.find((f) => f.remaining > 0 && streamId.startsWith(f.prefix));
  if (!fault) return false;
  fault.remaining--;
  return true;
};

export const saleDefinition = (overrides: Partial<SaleDefinition> = {}): SaleDefinition => ({
  saleId: 'sale-saga',
  sku: 'SKU-SAGA',
  name: 'saga test sale',
  price: 500,
  totalStock: 10,
  shards: 2,
  startsAt: T0,
  endsAt: T0 + 60 * MINUTE,
  perUserLimit: 2,
  inventoryMode: 'reserve',
  holdTtlMs: MINUTE,
  challenge: 'none',
  ...overrides,
});

/** The sagas' way to the inventory: this process's own shard writers, as LocalShardAccess wires them in the api and the worker. */
export class FixtureInventory implements ShardAccess {
  constructor(readonly inventory: SaleInventory) {}

  sale(saleId: string): SaleDefinition | undefined {
    return saleId === this.inventory.sale.saleId ? this.inventory.sale : undefined;
  }

  placeOrder(saleId: string, orderId: string, userId: string, quantity: number, metadata: CommandMetadata): Promise<ShardCommandOutcome> {
    return this.forSale(saleId).reserve(orderId, userId, quantity, metadata);
  }

  async decide(saleId: string, shard: number, command: ShardCommand, metadata: CommandMetadata): Promise<ShardCommandOutcome> {
    const writer = this.forSale(saleId).writer(shard);
    if (!writer) throw new Error(`sale ${saleId} has no shard ${shard}`);
    return writer.submit(command, metadata);
  }

  private forSale(saleId: string): SaleInventory {
    if (saleId !== this.inventory.sale.saleId) throw new Error(`unknown sale ${saleId}`);
    return this.inventory;
  }
}

export interface SagaFixtureOptions {
  /** Where the SQLite event store and checkpoint store live; in memory when absent. Reopening a dir restarts. */
  readonly dataDir?: string;
  readonly clock?: FakeClock;
  readonly sale?: Partial<SaleDefinition>;
  readonly settleAfterMs?: number;
  readonly clientWindowMs?: number;
}

export interface PlacedHold {
  readonly orderId: string;
  readonly userId: string;
  readonly shard: number;
  readonly order: Order;
}

/**
 * One embedded engine around the sagas: an event store holding one scheduled sale, its shard writers on a fake
 * clock, the buyer quota, and a log follower with the three processes whose timer never fires: tests tick by hand.
 */
export class SagaFixture {
  /** Silent unless SAGA_LOG names a pino level (SAGA_LOG=debug when a saga misbehaves). */
  readonly logger = pino({ level: process.env.SAGA_LOG ?? 'silent' });
  readonly quota: BuyerQuota;
  readonly port: FixtureInventory;
  follower: LogFollower;

  private constructor(
    readonly store: FaultyEventStore,
    readonly checkpoints: CheckpointStore,
    readonly clock: FakeClock,
    readonly inventory: SaleInventory,
    readonly options: { readonly settleAfterMs: number; readonly clientWindowMs: number; readonly dataDir: string | undefined },
  ) {
    this.quota = new BuyerQuota(store, new ClaimantIndex(), { soleClaimant: false, clock });
    this.port = new FixtureInventory(inventory);
    this.follower = this.createFollower(checkpoints);
  }

  static async start(options: SagaFixtureOptions = {}): Promise<SagaFixture> {
    const clock = options.clock ?? new FakeClock(T0);
    const store = new FaultyEventStore(
      options.dataDir
        ? new SqliteEventStore({ file: path.join(options.dataDir, EVENTS_FILE), synchronous: 'OFF', now: clock.now })
        : new MemoryEventStore(clock.now),
    );
    const checkpoints: CheckpointStore = options.dataDir
      ? new SqliteCheckpointStore(path.join(options.dataDir, CHECKPOINTS_FILE))
      : new MemoryCheckpointStore();
    const definition = saleDefinition(options.sale);
    const sale = await scheduledSale(store, definition, clock.now());
    const inventory = await SaleInventory.load(store, clock, sale.definition, sale.allocations, { maxBatch: 64 });
    const fixture = new SagaFixture(store, checkpoints, clock, inventory, {
      settleAfterMs: options.settleAfterMs ?? 5 * SECOND,
      clientWindowMs: options.clientWindowMs ?? 2 * MINUTE,
      dataDir: options.dataDir,
    });
    await fixture.follower.start();
    await fixture.settle();
    return fixture;
  }

  get sale(): SaleDefinition {
    return this.inventory.sale;
  }

  /** Prefix of every inventory shard stream of the sale (for injecting faults). */
  get inventoryStreamPrefix(): string {
    return inventoryStream(this.sale.saleId, 0).slice(0, -1);
  }

  /** Fresh expiry, quota-release and compensation processes over this fixture's inventory and quota. */
  createProcesses(): LogProcess[] {
    return [
      new ExpiryProcess(this.port, this.logger),
      new QuotaReleaseProcess(this.quota, this.logger),
      new CompensationProcess(this.port, this.quota, this.logger, {
        settleAfterMs: this.options.settleAfterMs,
        clientWindowMs: this.options.clientWindowMs,
      }),
    ];
  }

  createFollower(checkpoints: CheckpointStore): LogFollower {
    return new LogFollower(this.store, checkpoints, this.createProcesses(), this.logger, {
      name: FOLLOWER_NAME,
      tickIntervalMs: 1e9,
      now: this.clock.now,
    });
  }

  /** Stops the current follower and starts a new one with fresh processes, from `checkpoints`' position. */
  async restartFollower(checkpoints: CheckpointStore = this.checkpoints): Promise<LogFollower> {
    await this.follower.stop();
    this.follower = this.createFollower(checkpoints);
    await this.follower.start();
    await this.settle();
    return this.follower;
  }

  /** Resolves once the follower has applied everything in the store. */
  async settle(): Promise<void> {
    await this.follower.waitForPosition(await this.store.headPosition());
  }

  /** One sweep of every process at the clock's time, on a fully applied log; then lets the follower see its effects. */
  async tick(): Promise<void> {
    await this.settle();
    await this.follower.tick();
    await this.settle();
  }

  async tickAt(t: number): Promise<void> {
    this.clock.set(t);
    await this.tick();
  }

  /** How much work the follower's process `name` has pending. */
  backlog(name: string): number | undefined {
    return this.follower.status(this.clock.now()).processes[name]?.backlog;
  }

  /** QuotaClaimed on the buyer stream, as the reservation path appends it before the shard append. */
  async claim(userId: string, idempotencyKey: string, quantity = 1): Promise<string> {
    const { saleId, perUserLimit } = this.sale;
    const streamId = buyerStream(saleId, userId);
    const recorded = await this.store.readStream(streamId);
    const state = foldBuyer(saleId, userId, recorded);
    const reservationId = reservationIdFor(saleId, userId, idempotencyKey);
    const events = buyerDecider.decide(
      { type: 'ClaimQuota', saleId, userId, reservationId, idempotencyKey, quantity, perUserLimit },
      state,
      this.clock.now(),
    );
    const last = recorded[recorded.length - 1];
    if (events.length > 0) {
      const metadata = { correlationId: reservationId, userId, decidedAt: this.clock.now() };
      await this.store.append(streamId, events.map((e) => encodeEvent(streamId, e, metadata)), last ? last.revision : NO_STREAM);
    }
    return reservationId;
  }

  /** The whole reservation path: claim on the buyer stream, then [StockReserved, OrderPlaced] on a shard. */
  async reserve(userId: string, idempotencyKey: string, quantity = 1): Promise<PlacedHold> {
    const orderId = await this.claim(userId, idempotencyKey, quantity);
    const outcome = await this.inventory.reserve(orderId, userId, quantity, { correlationId: orderId, userId, decidedAt: this.clock.now() });
    if (!outcome.order) throw new Error(`reservation ${orderId} resolved without an order`);
    return { orderId, userId, shard: outcome.shard, order: outcome.order };
  }

  /** A payment webhook for the full amount of the order, decided on its shard at the clock's time. */
  async pay(hold: PlacedHold, paymentId = `pay-${hold.orderId}`): Promise<ShardCommandOutcome> {
    return this.port.decide(this.sale.saleId, hold.shard, { type: 'PayOrder', orderId: hold.orderId, paymentId, amount: hold.order.amount }, {});
  }

  async buyer(userId: string): Promise<BuyerState> {
    return foldBuyer(this.sale.saleId, userId, await this.store.readStream(buyerStream(this.sale.saleId, userId)));
  }

  /** A shard as its stream says, folded from the store (not the writer's cache). */
  async shard(shard: number): Promise<ShardState> {
    const allocated = this.inventory.writer(shard)?.state.allocated;
    if (allocated === undefined) throw new Error(`no shard ${shard}`);
    const events = (await this.store.readStream(inventoryStream(this.sale.saleId, shard))).map((r) => decodeEvent(r) as ShardEvent);
    return fold(inventoryShardDecider.evolve, inventoryShardDecider.initialState(shardConfig(this.sale, shard, allocated)), events);
  }

  async order(hold: PlacedHold): Promise<Order | undefined> {
    return (await this.shard(hold.shard)).orders.get(hold.orderId);
  }

  async log(): Promise<RecordedEvent[]> {
    return this.store.readAll({ after: 0, maxCount: 1_000_000 });
  }

  /** Events of `type` anywhere in the log that concern `id` (an order or reservation id). */
  async eventsAbout(id: string, type?: EventType): Promise<DomainEvent[]> {
    return (await this.log())
      .filter((r) => type === undefined || r.type === type)
      .map(decodeEvent)
      .filter((e) => {
        const data = e.data as { orderId?: string; reservationId?: string };
        return data.orderId === id || data.reservationId === id;
      });
  }

  async count(type: EventType, id: string): Promise<number> {
    return (await this.eventsAbout(id, type)).length;
  }

  /** Position in the global log of the `type` event about `id`. */
  async positionOf(type: EventType, id: string): Promise<number> {
    const found = (await this.log()).find((r) => {
      const data = r.data as { orderId?: string; reservationId?: string };
      return r.type === type && (data.orderId === id || data.reservationId === id);
    });
    if (!found) throw new Error(`no ${type} about ${id} in the log`);
    return found.position;
  }

  /**
   * Delivers the log to `processes` directly, bypassing the follower: each event `times` times in a row, from after
   * position `after` up to position `upTo` (a process that has not seen the rest yet).
   */
  async deliver(processes: readonly LogProcess[], options: { readonly after?: number; readonly upTo?: number; readonly times?: number } = {}): Promise<void> {
    for (const recorded of await this.store.readAll({ after: options.after ?? 0, maxCount: 1_000_000 })) {
      if (options.upTo !== undefined && recorded.position > options.upTo) break;
      const event = decodeEvent(recorded);
      for (let i = 0; i < (options.times ?? 1); i++) for (const p of processes) p.apply(event, recorded.position);
    }
  }

  /** Dies without stopping the follower: whatever checkpoint the last tick saved is what the next start finds. */
  async crash(): Promise<void> {
    await this.store.close();
    this.checkpoints.close();
  }

  async stop(): Promise<void> {
    await this.follower.stop();
    await this.inventory.flush();
    this.checkpoints.close();
    await this.store.close();
  }
}

const foldBuyer = (saleId: string, userId: string, recorded: readonly RecordedEvent[]): BuyerState =>
  fold(buyerDecider.evolve, initialBuyerState(saleId, userId), recorded.map((r) => decodeEvent(r) as BuyerEvent));

/** Schedules the sale through the Sale decider unless its stream already exists; returns what the stream says. */
const scheduledSale = async (store: EventStore, definition: SaleDefinition, now: number): Promise<{ definition: SaleDefinition; allocations: readonly number[] }> => {
  const streamId = saleStream(definition.saleId);
  let recorded = await store.readStream(streamId);
  if (recorded.length === 0) {
    const events = saleDecider.decide({ type: 'ScheduleSale', definition }, saleDecider.initialState(), now);
    await store.append(streamId, events.map((e) => encodeEvent(streamId, e)), NO_STREAM);
    recorded = await store.readStream(streamId);
  }
  const state: SaleState = fold(saleDecider.evolve, saleDecider.initialState(), recorded.map((r) => decodeEvent(r) as SaleEvent));
  if (state.status === 'none') throw new Error(`sale ${definition.saleId} was not scheduled`);
  return { definition: state.definition, allocations: state.allocations };
};

/** A fresh temporary directory for a SQLite-backed fixture; remove it with `removeDir`. */
export const tempDir = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'flash-sagas-'));

export const removeDir = (dir: string): void => {
  fs.rmSync(dir, { recursive: true, force: true });
};
