import { Inject, Injectable } from '@nestjs/common';
import { Degradation } from '@flash/access';
import { NotFound } from '@flash/domain';
import { EventStore, eventsBehind } from '@flash/event-store';
import { Clock, CLOCK, Inventories, LogIndexer, readShardStates, SaleCatalogue } from '@flash/command-side';
import { EVENT_STORE } from '@flash/runtime';
import { adminSaleView, publicSaleView } from '../sale-views';

@Injectable()
export class GetSaleService {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly catalog: SaleCatalogue,
    private readonly indexer: LogIndexer,
    private readonly inventory: Inventories,
    private readonly degradation: Degradation,
  ) {}

  private saleOrThrow(saleId: string) {
    const sale = this.catalog.sale(saleId);
    if (!sale) throw new NotFound('sale', saleId);
    return sale;
  }

  async publicView(saleId: string) {
    const sale = this.saleOrThrow(saleId);
    const inventory = await this.inventory.forSale(saleId);
    return publicSaleView(sale, inventory.available(), this.clock.now(), this.degradation.level());
  }

  /** Counts folded from the shard streams in the store (the truth), not from any cache. */
  async adminView(saleId: string) {
    const sale = this.saleOrThrow(saleId);
    const shards = await readShardStates(this.store, sale.definition, sale.allocations);
    const head = await this.store.headPosition();
    return adminSaleView(sale, shards, this.clock.now(), { events: await eventsBehind(this.store, this.indexer.position, head) });
  }
}
