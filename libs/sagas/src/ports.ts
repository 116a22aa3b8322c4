import { Order, QuotaReleaseReason, SaleDefinition, ShardCommand, ShardEvent } from '@flash/domain';
import { CommandMetadata } from '@flash/event-store';

export interface ShardCommandOutcome {
  readonly order: Order | undefined;
  readonly events: readonly ShardEvent[];
}

/**
 * How the sagas reach the inventory shards: the shard writers of the process they run in (LocalShardAccess), the api's
 * with WORKER=embedded, the worker's own with WORKER=external, deciding on the same streams with optimistic concurrency.
 */
export interface ShardAccess {
  sale(saleId: string): SaleDefinition | undefined;
  placeOrder(saleId: string, orderId: string, userId: string, quantity: number, metadata: CommandMetadata): Promise<ShardCommandOutcome>;
  decide(saleId: string, shard: number, command: ShardCommand, metadata: CommandMetadata): Promise<ShardCommandOutcome>;
}

export interface QuotaPort {
  /** Appends QuotaReleased unless the claim is already released; retries on optimistic-concurrency conflicts. */
  releaseClaim(saleId: string, userId: string, reservationId: string, reason: QuotaReleaseReason, metadata: CommandMetadata): Promise<void>;
}

export interface CheckpointStore {
  load(name: string): number;
  /**
   * Stores the position under the writer's fence (its job lease's; 0 where no lease is used). Throws FencedOff when a
   * higher fence has written: the writer was deposed and must stop.
   */
  save(name: string, position: number, fence?: number): void;
  close(): void;
}

/** A checkpoint write refused: a later holder of the job (a higher fence) has written since. */
export class FencedOff extends Error {
  constructor(
    readonly job: string,
    readonly fence: number,
  ) {
    super(`${job}: fence ${fence} was overtaken by a later holder of the job`);
    this.name = 'FencedOff';
  }
}

/**
 * Where a process posts its followers' status for another process to read: the worker's sagas, reported to the api
 * (WORKER=external), which has no other way to see their backlog for /health/ready and /metrics.
 */
export interface StatusBoard {
  report(name: string, status: unknown, at: number): void;
  reported(name: string): { readonly status: unknown; readonly reportedAt: number } | undefined;
}
