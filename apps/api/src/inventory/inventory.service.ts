import { Inject, Injectable } from '@nestjs/common';
import { NotFound, Order } from '@flash/domain';
import { EventStore } from '@flash/event-store';
import { Clock, CLOCK } from '../clock';
import { APP_CONFIG, AppConfig } from '../config';
import { SaleCatalog } from '../sales/sale-catalog';
import { EVENT_STORE } from '../store/event-store.provider';
import { SaleInventory } from './sale-inventory';
import { ShardWriter } from './shard-writer';

export interface LocatedOrder {
  readonly saleId: string;
  readonly shard: number;
  readonly writer: ShardWriter;
  readonly order: Order;
}

/** Owns the shard writers of every sale this process has touched, loading a sale's shards on first use. */
@Injectable()
export class InventoryService {
  private readonly inventories = new Map<string, Promise<SaleInventory>>();

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly catalog: SaleCatalog,
  ) {}

  forSale(saleId: string): Promise<SaleInventory> {
    let inventory = this.inventories.get(saleId);
    if (!inventory) {
      const sale = this.catalog.sale(saleId);
      if (!sale) return Promise.reject(new NotFound('sale', saleId));
      inventory = SaleInventory.load(this.store, this.clock, sale.definition, sale.allocations, { maxBatch: this.config.shardMaxBatch });
      inventory.catch(() => this.inventories.delete(saleId));
      this.inventories.set(saleId, inventory);
    }
    return inventory;
  }

  /** Finds an order wherever it lives: the catalog's locator names its shard, the shard writer holds it. */
  async findOrder(orderId: string): Promise<LocatedOrder | undefined> {
    const location = this.catalog.locateOrder(orderId);
    if (!location) return undefined;
    const writer = (await this.forSale(location.saleId)).writer(location.shard);
    const order = writer?.state.orders.get(orderId);
    return writer && order ? { saleId: location.saleId, shard: location.shard, writer, order } : undefined;
  }

  /** The inventories loaded so far (for metrics); never loads one. */
  async loadedInventories(): Promise<SaleInventory[]> {
    const settled = await Promise.allSettled([...this.inventories.values()]);
    return settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  }

  /** Settles every queued command: called on shutdown after the HTTP server stopped taking requests. */
  async flush(): Promise<void> {
    await Promise.all((await this.loadedInventories()).map((i) => i.flush()));
  }
}
