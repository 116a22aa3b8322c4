import { availableStock, homeShard, Order, SaleDefinition, ShardConfig, ShardState, SoldOut } from '@flash/domain';
import { CommandMetadata, EventStore } from '@flash/event-store';
import { Clock } from '../clock';
import { EVERY_SHARD, ShardOwnership } from './shard-ownership';
import { PlacedElsewhere, ShardOutcome, ShardUnavailable, ShardWriter, ShardWriterOptions } from './shard-writer';

/**
 * All inventory shards of one sale, and the choice of shard for a reservation: start at a rotating shard so
 * load spreads, skip shards whose cached stock cannot serve the quantity, and move on when a shard turns out to
 * be sold out at decision time. The sale is sold out only when every shard is.
 */
export class SaleInventory {
  /** Reservations being decided, so two concurrent attempts for one order can never land on two shards. */
  private readonly inFlight = new Map<string, Promise<ShardOutcome & { shard: number }>>();

  /** Reservations decided on a shard another replica owns (its owner's shards ran dry first, or ownership was moving). */
  guestReservations = 0;

  private constructor(
    readonly sale: SaleDefinition,
    readonly writers: readonly ShardWriter[],
    private readonly ownership: ShardOwnership,
  ) {}

  static async load(
    store: EventStore,
    clock: Clock,
    sale: SaleDefinition,
    allocations: readonly number[],
    options: ShardWriterOptions,
    ownership: ShardOwnership = EVERY_SHARD,
  ): Promise<SaleInventory> {
    const writers = await Promise.all(
      allocations.map((allocated, shard) => ShardWriter.load(store, clock, shardConfig(sale, shard, allocated), options)),
    );
    return new SaleInventory(sale, writers, ownership);
  }

  /** Whether this process owns the shard (see ShardOwnership): its reservations go there first. */
  owns(shard: number): boolean {
    return this.ownership.owns(this.sale.saleId, shard);
  }

  /**
   * Where a reservation should look first: a shard this process owns that has stock by its cache, chosen by the order
   * id so load spreads over them; with none, any shard by the order id. The eligibility gate starts there too.
   */
  startShard(orderId: string): number {
    if (this.ownership === EVERY_SHARD) return homeShard(orderId, this.writers.length);
    const own: number[] = [];
    for (const w of this.writers) if (availableStock(w.state) > 0 && this.owns(w.state.shard)) own.push(w.state.shard);
    return own.length > 0 ? (own[homeShard(orderId, own.length)] as number) : homeShard(orderId, this.writers.length);
  }

  /** Units still available across shards, from the writers' caches (a filter, not the truth). */
  available(): number {
    return this.writers.reduce((sum, w) => sum + availableStock(w.state), 0);
  }

  /** Reads what the log has shown and the writers have not folded yet (shards another replica owns): the caches' age. */
  async fresh(): Promise<void> {
    await Promise.all(this.writers.filter((w) => w.behind).map((w) => w.fresh()));
  }

  /**
   * The shards that have stock, reading only those whose stock the log may have changed past zero: each event another
   * process appended takes at most one reservation of at most `perUserLimit` units, so a cache with more than that
   * many units per unread event still has stock whatever those events were (the shard leases' deal, once a round).
   */
  async stockedShards(): Promise<number[]> {
    const uncertain = this.writers.filter((w) => w.behind && availableStock(w.state) <= w.eventsBehind * this.sale.perUserLimit);
    await Promise.all(uncertain.map((w) => w.fresh()));
    return this.writers.filter((w) => availableStock(w.state) > 0).map((w) => w.state.shard);
  }

  /**
   * Whether no unit is left, as far as the log has reached this process. Nothing is read while the caches show stock;
   * before saying none, the shards behind the log are read (another replica's shard may have had units given back).
   */
  async soldOut(): Promise<boolean> {
    if (this.available() > 0) return false;
    await this.fresh();
    return this.available() <= 0;
  }

  /** Whether some shard this process trusts can serve `quantity`, the shards behind the log read first. */
  async canServe(quantity: number): Promise<boolean> {
    await this.fresh();
    return this.writers.some((w) => w.trusted && availableStock(w.state) >= quantity);
  }

  /**
   * Where an order lives, by decisions known to be durable. A writer folds a batch into its cache before the append
   * lands, so an order whose reservation is still in flight, or on a writer whose last append failed and whose stream
   * could not be re-read, may not exist: it is not reported.
   */
  findOrder(orderId: string): { order: Order; shard: number } | undefined {
    if (this.inFlight.has(orderId)) return undefined;
    for (const w of this.writers) {
      if (!w.trusted) continue;
      const order = w.state.orders.get(orderId);
      if (order) return { order, shard: w.state.shard };
    }
    return undefined;
  }

  /** `preferredShard`: where the eligibility gate set stock aside; otherwise a shard derived from the order id. */
  reserve(orderId: string, userId: string, quantity: number, metadata: CommandMetadata, preferredShard?: number): Promise<ShardOutcome & { shard: number }> {
    let attempt = this.inFlight.get(orderId);
    if (!attempt) {
      const known = this.findOrder(orderId);
      if (known) return Promise.resolve({ order: known.order, events: [], position: 0, shard: known.shard });
      attempt = this.route(orderId, userId, quantity, metadata, preferredShard).finally(() => this.inFlight.delete(orderId));
      this.inFlight.set(orderId, attempt);
    }
    return attempt;
  }

  /** Visits shards in an order derived from the order id (so load spreads and a retry takes the same path). */
  private async route(
    orderId: string,
    userId: string,
    quantity: number,
    metadata: CommandMetadata,
    preferredShard?: number,
  ): Promise<ShardOutcome & { shard: number }> {
    const n = this.writers.length;
    const start = preferredShard ?? this.startShard(orderId);
    const rotation = Array.from({ length: n }, (_, i) => this.writers[(start + i) % n] as ShardWriter);
    // An untrusted writer may hold this order durably: ask it first, whatever its cached stock (it re-reads its
    // stream before deciding), so the order is found there instead of being placed a second time on another shard.
    // Then the shards this process owns; then, rather than refuse a buyer while stock remains, the others as a guest.
    // Asked once a shard (writers are indexed by shard), not at each comparison: a sort of 8 shards compares ~20 times.
    const owned = this.writers.map((w) => Number(this.owns(w.state.shard)));
    rotation.sort((a, b) => Number(a.trusted) - Number(b.trusted) || (owned[b.state.shard] as number) - (owned[a.state.shard] as number));
    for (const writer of rotation) {
      // A writer behind the log (another replica's shard) may have had stock given back: it reads its stream first.
      if (writer.trusted && !writer.behind && availableStock(writer.state) < quantity) continue;
      try {
        const outcome = await writer.submit({ type: 'ReserveStock', orderId, userId, quantity }, metadata);
        if (outcome.events.length > 0 && !this.owns(writer.state.shard)) this.guestReservations++;
        return { ...outcome, shard: writer.state.shard };
      } catch (error) {
        if (error instanceof PlacedElsewhere) return this.placedElsewhere(orderId);
        if (!(error instanceof SoldOut)) throw error;
      }
    }
    throw new SoldOut(this.sale.saleId);
  }

  /**
   * Another process placed this order first, on another shard (a replica that got the same Idempotency-Key, the
   * compensation saga): the store refused a second placement. The answer is that order, read from the stores' streams.
   */
  private async placedElsewhere(orderId: string): Promise<ShardOutcome & { shard: number }> {
    await Promise.all(this.writers.map((w) => w.catchUpNow()));
    // Not findOrder: this very attempt is still in flight.
    const writer = this.writers.find((w) => w.trusted && w.state.orders.has(orderId));
    if (writer === undefined) throw new ShardUnavailable(this.sale.saleId, `order ${orderId} is placed on a shard that could not be read`);
    return { order: writer.state.orders.get(orderId), events: [], position: 0, shard: writer.state.shard };
  }

  writer(shard: number): ShardWriter | undefined {
    return this.writers[shard];
  }

  async flush(): Promise<void> {
    await Promise.all(this.writers.map((w) => w.flush()));
  }
}

export const shardConfig = (sale: SaleDefinition, shard: number, allocated: number): ShardConfig => ({
  saleId: sale.saleId,
  shard,
  allocated,
  inventoryMode: sale.inventoryMode,
  holdTtlMs: sale.holdTtlMs,
  unitPrice: sale.price,
});


/** Every shard of a sale folded from the store (the truth, not a writer's cache). */
export const readShardStates = (store: EventStore, sale: SaleDefinition, allocations: readonly number[]): Promise<ShardState[]> =>
  Promise.all(allocations.map(async (allocated, shard) => (await ShardWriter.read(store, shardConfig(sale, shard, allocated))).state));
