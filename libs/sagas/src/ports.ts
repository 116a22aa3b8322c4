import { Order, QuotaReleaseReason, SaleDefinition, ShardCommand, ShardEvent } from '@flash/domain';
import { CommandMetadata } from '@flash/event-store';

export interface ShardCommandOutcome {
  readonly order: Order | undefined;
  readonly events: readonly ShardEvent[];
}

/**
 * How the sagas reach the inventory. In embedded mode it is the api's own shard writers (one writer per shard per
 * process); a separate worker process would decide on the same streams with optimistic concurrency.
 */
export interface InventoryPort {
  sale(saleId: string): SaleDefinition | undefined;
  reserve(saleId: string, orderId: string, userId: string, quantity: number, metadata: CommandMetadata): Promise<ShardCommandOutcome>;
  submit(saleId: string, shard: number, command: ShardCommand, metadata: CommandMetadata): Promise<ShardCommandOutcome>;
}

export interface QuotaPort {
  /** Appends QuotaReleased unless the claim is already released; retries on optimistic-concurrency conflicts. */
  release(saleId: string, userId: string, reservationId: string, reason: QuotaReleaseReason, metadata: CommandMetadata): Promise<void>;
}

export interface CheckpointStore {
  load(name: string): number;
  save(name: string, position: number): void;
  close(): void;
}
