import { inventoryStream, NotFound, Order } from '@flash/domain';
import { EventStore, RecordedEvent } from '@flash/event-store';
import { Clock } from '../clock';
import { SaleCatalogue } from '../catalog/sale-catalogue';
import { OrderLocator } from '../catalog/order-locator';
import { SaleInventory } from './sale-inventory';
import { EVERY_SHARD, ShardOwnership } from './shard-ownership';
import { ShardWriter, ShardWriterOptions } from './shard-writer';

export interface LocatedOrder {
  readonly saleId: string;
  readonly shard: number;
  readonly writer: ShardWriter;
  readonly order: Order;
}

export interface SaleShardStock {
  readonly saleId: string;
  readonly shards: number;
  readonly stocked: readonly number[];
}

const INVENTORY_PREFIX = inventoryStream('', 0).slice(0, -2); // "inventory-", as the one place spells it

/** Owns the shard writers of every sale this process has touched, loading a sale's shards on first use. */
export class Inventories {
  private readonly inventories = new Map<string, Promise<SaleInventory>>();
  /** The same, once loaded: what `observe` can reach without waiting. */
  private readonly loaded = new Map<string, SaleInventory>();

  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
    private readonly catalogue: SaleCatalogue,
    private readonly locator: OrderLocator,
    private readonly options: ShardWriterOptions,
    /** Brings the order locator up to the log's head (LogIndexer.reachHead): for a lookup that missed. */
    private readonly reachHead: () => Promise<void> = async () => undefined,
    /** Which shards this process writes first (several api replicas on one store); every shard by default. */
    private readonly ownership: ShardOwnership = EVERY_SHARD,
  ) {}

  forSale(saleId: string): Promise<SaleInventory> {
    let inventory = this.inventories.get(saleId);
    if (!inventory) {
      const sale = this.catalogue.sale(saleId);
      if (!sale) return Promise.reject(new NotFound('sale', saleId));
      inventory = SaleInventory.load(this.store, this.clock, sale.definition, sale.allocations, this.options, this.ownership);
      inventory.then(
        (loaded) => this.loaded.set(saleId, loaded),
        () => this.inventories.delete(saleId),
      );
      this.inventories.set(saleId, inventory);
    }
    return inventory;
  }

  /**
   * Finds an order wherever it lives: the locator names its shard, the shard writer holds it, caught up first with
   * whatever another process appended there that this process's log follower has delivered (an expiry by the worker
   * shows as soon as the follower has seen it, not at the writer's next batch).
   */
  async findOrder(orderId: string): Promise<LocatedOrder | undefined> {
    let location = this.locator.locate(orderId);
    if (!location) {
      // Placed by another process (an api replica) and not yet seen here: read the log up to its head, then look again.
      await this.reachHead();
      location = this.locator.locate(orderId);
    }
    if (!location) return undefined;
    const writer = (await this.forSale(location.saleId)).writer(location.shard);
    if (!writer) return undefined;
    await writer.fresh();
    const order = writer.state.orders.get(orderId);
    return order ? { saleId: location.saleId, shard: location.shard, writer, order } : undefined;
  }

  /**
   * A recorded event from the log: an append to a loaded shard tells its writer how far the stream goes. A shard this
   * process owns catches up at once; one another replica owns only learns it is behind (ShardWriter.observe), and is
   * read when this process is about to write it or answer from it.
   */
  observe(recorded: RecordedEvent): void {
    if (!recorded.streamId.startsWith(INVENTORY_PREFIX)) return;
    const cut = recorded.streamId.lastIndexOf('-');
    const inventory = this.loaded.get(recorded.streamId.slice(INVENTORY_PREFIX.length, cut));
    const shard = Number(recorded.streamId.slice(cut + 1));
    inventory?.writer(shard)?.observe(recorded.revision, inventory.owns(shard));
  }

  /**
   * For each sale loaded here, its shards and which of them still have stock (shard ownership), once a lease round:
   * the writers' caches, a shard behind the log read first when what it missed could have emptied it
   * (SaleInventory.stockedShards), so every replica deals the shards from the same stock.
   */
  async shardStock(): Promise<SaleShardStock[]> {
    return Promise.all(
      this.loadedInventories().map(async (inventory) => ({ saleId: inventory.sale.saleId, shards: inventory.writers.length, stocked: await inventory.stockedShards() })),
    );
  }

  /** The inventories loaded so far (for metrics); never loads one. */
  loadedInventories(): SaleInventory[] {
    return [...this.loaded.values()];
  }

  /** Settles every queued command: called on shutdown after the HTTP server stopped taking requests. */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.inventories.values()]);
    await Promise.all(this.loadedInventories().map((i) => i.flush()));
  }
}
