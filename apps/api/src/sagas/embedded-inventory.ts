import { Injectable } from '@nestjs/common';
import { SaleDefinition, ShardCommand } from '@flash/domain';
import { CommandMetadata } from '@flash/event-store';
import { InventoryPort, ShardCommandOutcome } from '@flash/worker';
import { InventoryService } from '../inventory/inventory.service';
import { SaleCatalog } from '../sales/sale-catalog';

/** The sagas' way to the inventory in embedded mode: this process's own shard writers. */
@Injectable()
export class EmbeddedInventory implements InventoryPort {
  constructor(
    private readonly catalog: SaleCatalog,
    private readonly inventory: InventoryService,
  ) {}

  sale(saleId: string): SaleDefinition | undefined {
    return this.catalog.sale(saleId)?.definition;
  }

  async reserve(saleId: string, orderId: string, userId: string, quantity: number, metadata: CommandMetadata): Promise<ShardCommandOutcome> {
    const outcome = await (await this.inventory.forSale(saleId)).reserve(orderId, userId, quantity, metadata);
    for (const e of outcome.events) this.catalog.apply(e);
    return outcome;
  }

  async submit(saleId: string, shard: number, command: ShardCommand, metadata: CommandMetadata): Promise<ShardCommandOutcome> {
    const writer = (await this.inventory.forSale(saleId)).writer(shard);
    if (!writer) throw new Error(`sale ${saleId} has no shard ${shard}`);
    return writer.submit(command, metadata);
  }
}
