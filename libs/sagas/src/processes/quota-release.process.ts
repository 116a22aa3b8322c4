import { DomainEvent, QuotaReleaseReason } from '@flash/domain';
import { Logger } from 'pino';
import { PendingItem } from '../pending-work';
import { QuotaPort } from '../ports';
import { PendingWorkProcess } from './log-process';

type Release = { saleId: string; userId: string; reason: QuotaReleaseReason };

/**
 * Gives a buyer's quota back when their order ends without being paid (expired, cancelled, or refunded because
 * no stock was left at payment time). Driven by the shard's events, so a crash between the shard append and the
 * buyer append is healed on replay; the buyer decider makes a second release a no-op.
 */
export class QuotaReleaseProcess extends PendingWorkProcess<Release> {
  readonly name = 'quota-release';

  constructor(
    private readonly quota: QuotaPort,
    logger: Logger,
  ) {
    super(logger);
  }

  apply(event: DomainEvent, position: number): void {
    switch (event.type) {
      case 'ReservationExpired':
        this.pending.add(event.data.orderId, position, 0, { saleId: event.data.saleId, userId: event.data.userId, reason: 'expired' });
        return;
      case 'OrderCancelled':
        this.pending.add(event.data.orderId, position, 0, { saleId: event.data.saleId, userId: event.data.userId, reason: 'cancelled' });
        return;
      case 'PaymentRefundRequested':
        if (event.data.reason === 'sold_out') {
          this.pending.add(event.data.orderId, position, 0, { saleId: event.data.saleId, userId: event.data.userId, reason: 'refunded' });
        }
        return;
      case 'QuotaReleased':
        this.pending.remove(event.data.reservationId);
        return;
      default:
        return;
    }
  }

  protected async work(item: PendingItem<Release>, now: number): Promise<'done'> {
    const { saleId, userId, reason } = item.payload;
    await this.quota.releaseClaim(saleId, userId, item.key, reason, { causationId: `quota-release:${item.key}`, userId, decidedAt: now });
    return 'done';
  }
}
