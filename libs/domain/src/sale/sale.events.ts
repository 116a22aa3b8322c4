export type InventoryMode = 'reserve' | 'on-order' | 'on-payment';
export type ChallengeType = 'none' | 'pow';

export interface WaitingRoomSettings {
  readonly enabled: boolean;
  readonly admitPerSecond: number;
  readonly tokenTtlMs: number;
}

/** What an admin asks for; times are epoch milliseconds. */
export interface SaleDefinition {
  readonly saleId: string;
  readonly sku: string;
  readonly name: string;
  /** Integer minor units (cents). */
  readonly price: number;
  readonly totalStock: number;
  readonly shards: number;
  readonly startsAt: number;
  readonly endsAt: number;
  readonly perUserLimit: number;
  readonly inventoryMode: InventoryMode;
  readonly holdTtlMs: number;
  readonly challenge: ChallengeType;
  readonly waitingRoom?: WaitingRoomSettings;
}

export type SaleScheduled = { type: 'SaleScheduled'; data: SaleDefinition & { scheduledAt: number } };
/** `allocations[shard]` = units given to that shard; they sum to totalStock. */
export type SaleStockAllocated = { type: 'SaleStockAllocated'; data: { saleId: string; allocations: number[] } };
export type SaleClosed = { type: 'SaleClosed'; data: { saleId: string; reason: 'ended' | 'cancelled'; closedAt: number } };

export type SaleEvent = SaleScheduled | SaleStockAllocated | SaleClosed;
