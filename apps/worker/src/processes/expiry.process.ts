import { DomainEvent } from '@flash/domain';
import { Logger } from 'pino';
import { PendingItem } from '../pending-work';
import { InventoryPort } from '../ports';
import { PendingWorkProcess } from './log-process';

/**
 * Ends unpaid holds at their deadline. Deadlines come from OrderPlaced.expiresAt in the log, never from a timer
 * alone: after a restart they are rebuilt by replaying from the checkpoint. The shard decider decides the expiry
 * with optimistic concurrency on the shard stream, so a payment racing the sweep wins or loses cleanly.
 */
export class ExpiryProcess extends PendingWorkProcess<{ saleId: string; shard: number }> {
  readonly name = 'expiry';

  constructor(
    private readonly inventory: InventoryPort,
    logger: Logger,
  ) {
    super(logger);
  }

  apply(event: DomainEvent, position: number): void {
    switch (event.type) {
      case 'OrderPlaced':
        if (event.data.expiresAt !== undefined) {
          this.pending.add(event.data.orderId, position, event.data.expiresAt, { saleId: event.data.saleId, shard: event.data.shard });
        }
        return;
      case 'ReservationExpired':
      case 'OrderPaid':
      case 'OrderCancelled':
        this.pending.remove(event.data.orderId);
        return;
      default:
        return;
    }
  }

  protected async work(item: PendingItem<{ saleId: string; shard: number }>, now: number): Promise<'done' | 'retry'> {
    const outcome = await this.inventory.submit(
      item.payload.saleId,
      item.payload.shard,
      { type: 'ExpireReservation', orderId: item.key },
      { causationId: `expiry:${item.key}`, decidedAt: now },
    );
    // Still a live hold after deciding means the shard saw it as not yet due (its clock): keep it.
    return outcome.order?.status === 'reserved' ? 'retry' : 'done';
  }
}
