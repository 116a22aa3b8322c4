import { SaleDefinition, ShardCommand } from '@flash/domain';
import { CommandMetadata } from '@flash/event-store';
import { LogIndexer } from '../catalog/log-indexer';
import { SaleCatalogue } from '../catalog/sale-catalogue';
import { Inventories } from './inventories';
import { ShardOutcome } from './shard-writer';

/**
 * The sagas' way to the inventory (their ShardAccess): this process's own shard writers, whichever process it is.
 * In the api (WORKER=embedded) they are the writers purchases go through; in the worker they are its own, deciding on
 * the same streams with optimistic concurrency, and caught up from the log before each batch.
 */
export class LocalShardAccess {
  constructor(
    private readonly catalogue: SaleCatalogue,
    private readonly inventories: Inventories,
    private readonly indexes: LogIndexer,
  ) {}

  sale(saleId: string): SaleDefinition | undefined {
    return this.catalogue.sale(saleId)?.definition;
  }

  async placeOrder(saleId: string, orderId: string, userId: string, quantity: number, metadata: CommandMetadata): Promise<ShardOutcome> {
    const outcome = await (await this.inventories.forSale(saleId)).reserve(orderId, userId, quantity, metadata);
    for (const e of outcome.events) this.indexes.apply(e);
    return outcome;
  }

  async decide(saleId: string, shard: number, command: ShardCommand, metadata: CommandMetadata): Promise<ShardOutcome> {
    const writer = (await this.inventories.forSale(saleId)).writer(shard);
    if (!writer) throw new Error(`sale ${saleId} has no shard ${shard}`);
    return writer.submit(command, metadata);
  }
}
