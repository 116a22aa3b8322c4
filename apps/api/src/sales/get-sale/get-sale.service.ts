import { Inject, Injectable } from '@nestjs/common';
import { Degradation } from '@flash/access';
import { NotFound } from '@flash/domain';
import { EventStore, eventsBehind } from '@flash/event-store';
import { Clock, CLOCK, Inventories, LogIndexer, readShardStates, SaleCatalogue } from '@flash/command-side';
import { EVENT_STORE } from '@flash/runtime';
import { adminSaleView, publicSaleView } from '../sale-views';
import { SaleStatusCache } from './sale-status-cache';

/** A hot sale's status is rendered at most once a second, whoever asks. */
const SALE_STATUS_TTL_MS = 1000;

@Injectable()
export class GetSaleService {
  private readonly statuses: SaleStatusCache<ReturnType<typeof publicSaleView>>;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly catalog: SaleCatalogue,
    private readonly indexer: LogIndexer,
    private readonly inventory: Inventories,
    private readonly degradation: Degradation,
  ) {
    this.statuses = new SaleStatusCache(SALE_STATUS_TTL_MS, () => this.clock.now());
  }

  private saleOrThrow(saleId: string) {
    const sale = this.catalog.sale(saleId);
    if (!sale) throw new NotFound('sale', saleId);
    return sale;
  }

  /** From the in-process cache (1 s): `serverTime`, `availableApprox` and the status are up to a second old. */
  publicView(saleId: string) {
    return this.statuses.get(saleId, async () => {
      const sale = this.saleOrThrow(saleId);
      const inventory = await this.inventory.forSale(saleId);
      // Shards another replica owns are read here at most once a second (the cache's life), not at each of its appends.
      await inventory.fresh();
      return publicSaleView(sale, inventory.available(), this.clock.now(), this.degradation.level());
    });
  }

  /** Counts folded from the shard streams in the store (the truth), not from any cache. */
  async adminView(saleId: string) {
    const sale = this.saleOrThrow(saleId);
    const shards = await readShardStates(this.store, sale.definition, sale.allocations);
    const head = await this.store.headPosition();
    return adminSaleView(sale, shards, this.clock.now(), { events: await eventsBehind(this.store, this.indexer.position, head) });
  }
}
