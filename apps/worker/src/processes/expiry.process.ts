import { DomainEvent } from '@flash/domain';
import { Logger } from 'pino';
import { PendingWork } from '../pending-work';
import { InventoryPort } from '../ports';
import { LogProcess } from './log-process';

/**
 * Ends unpaid holds at their deadline. Deadlines come from OrderPlaced.expiresAt in the log, never from a timer
 * alone: after a restart they are rebuilt by replaying from the checkpoint. The shard decider decides the expiry
 * with optimistic concurrency on the shard stream, so a payment racing the sweep wins or loses cleanly.
 */
export class ExpiryProcess implements LogProcess {
  readonly name = 'expiry';
  private readonly holds = new PendingWork<{ saleId: string; shard: number }>();

  constructor(
    private readonly inventory: InventoryPort,
    private readonly logger: Logger,
  ) {}

  apply(event: DomainEvent, position: number): void {
    switch (event.type) {
      case 'OrderPlaced':
        if (event.data.expiresAt !== undefined) {
          this.holds.add(event.data.orderId, position, event.data.expiresAt, { saleId: event.data.saleId, shard: event.data.shard });
        }
        return;
      case 'ReservationExpired':
      case 'OrderPaid':
      case 'OrderCancelled':
        this.holds.remove(event.data.orderId);
        return;
      default:
        return;
    }
  }

  async tick(now: number): Promise<void> {
    await Promise.all(
      this.holds.due(now).map(async (item) => {
        try {
          const outcome = await this.inventory.submit(
            item.payload.saleId,
            item.payload.shard,
            { type: 'ExpireReservation', orderId: item.key },
            { causationId: `expiry:${item.key}`, decidedAt: now },
          );
          // Still a live hold after deciding means the shard saw it as not yet due (its clock): keep it.
          if (outcome.order?.status === 'reserved') this.holds.retryLater(item, now);
          else this.holds.remove(item.key);
        } catch (error) {
          this.logger.warn({ err: error, orderId: item.key }, 'expiry not recorded yet; will retry');
          this.holds.retryLater(item, now);
        }
      }),
    );
  }

  lowWater(): number | undefined {
    return this.holds.lowWater();
  }

  status(now: number) {
    return { backlog: this.holds.size, overdueMs: this.holds.overdueMs(now) };
  }
}
