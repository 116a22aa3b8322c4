import { DomainEvent } from '@flash/domain';
import { Logger } from 'pino';
import { PendingItem } from '../pending-work';
import { ShardAccess } from '../ports';
import { PendingWorkProcess } from './log-process';

/**
 * Ends unpaid holds at their deadline. Deadlines come from OrderPlaced.expiresAt in the log, never from a timer
 * alone: after a restart they are rebuilt by replaying from the checkpoint. The shard decider decides the expiry
 * with optimistic concurrency on the shard stream, so a payment racing the sweep wins or loses cleanly.
 */
type Place = Readonly<{ saleId: string; shard: number }>;

export class ExpiryProcess extends PendingWorkProcess<Place> {
  readonly name = 'expiry';
  /** Every unpaid order of a shard waits with the same (sale, shard): one shared object, not one per order. */
  private readonly places = new Map<string, Place>();

  constructor(
    private readonly inventory: ShardAccess,
    logger: Logger,
  ) {
    super(logger);
  }

  apply(event: DomainEvent, position: number): void {
    switch (event.type) {
      case 'OrderPlaced':
        if (event.data.expiresAt !== undefined) {
          this.pending.add(event.data.orderId, position, event.data.expiresAt, this.place(event.data.saleId, event.data.shard));
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

  private place(saleId: string, shard: number): Place {
    const key = `${shard}:${saleId}`;
    let place = this.places.get(key);
    if (place === undefined) this.places.set(key, (place = Object.freeze({ saleId, shard })));
    return place;
  }

  protected async work(item: PendingItem<Place>, now: number): Promise<'done' | 'retry'> {
    const outcome = await this.inventory.decide(
      item.payload.saleId,
      item.payload.shard,
      { type: 'ExpireReservation', orderId: item.key },
      { causationId: `expiry:${item.key}`, decidedAt: now },
    );
    // Still a live hold after deciding means the shard saw it as not yet due (its clock): keep it.
    return outcome.order?.status === 'reserved' ? 'retry' : 'done';
  }
}
