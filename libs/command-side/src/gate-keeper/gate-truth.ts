import { ShardState } from '@flash/domain';
import { EventStore } from '@flash/event-store';
import { BuyerQuota } from '../buyer/buyer-quota';
import { CatalogSale } from '../catalog/sale-catalogue';
import { Inventories } from '../inventory/inventories';
import { readShardStates } from '../inventory/sale-inventory';
import { GateTruth } from './gate-keeper';

/** The gate keeper's view of the store: shard streams folded afresh, this process's trusted writers, buyer streams. */
export const storeTruth = (store: EventStore, inventories: Inventories, buyers: BuyerQuota): GateTruth => ({
  shardStates: (sale: CatalogSale): Promise<ShardState[]> => readShardStates(store, sale.definition, sale.allocations),
  canServe: async (saleId, quantity) => (await inventories.forSale(saleId)).canServe(quantity),
  claimedQuantity: async (saleId, userId) => (await buyers.read(saleId, userId)).state.claimedQuantity,
  startShard: async (sale, reservationId) => (await inventories.forSale(sale.definition.saleId)).startShard(reservationId),
});
