import { DomainEvent, QuotaReleaseReason } from '@flash/domain';
import { Logger } from 'pino';
import { PendingWork } from '../pending-work';
import { QuotaPort } from '../ports';
import { LogProcess } from './log-process';

/**
 * Gives a buyer's quota back when their order ends without being paid (expired, cancelled, or refunded because
 * no stock was left at payment time). Driven by the shard's events, so a crash between the shard append and the
 * buyer append is healed on replay; the buyer decider makes a second release a no-op.
 */
export class QuotaReleaseProcess implements LogProcess {
  readonly name = 'quota-release';
  private readonly releases = new PendingWork<{ saleId: string; userId: string; reason: QuotaReleaseReason }>();

  constructor(
    private readonly quota: QuotaPort,
    private readonly logger: Logger,
  ) {}

  apply(event: DomainEvent, position: number): void {
    switch (event.type) {
      case 'ReservationExpired':
        this.releases.add(event.data.orderId, position, 0, { saleId: event.data.saleId, userId: event.data.userId, reason: 'expired' });
        return;
      case 'OrderCancelled':
        this.releases.add(event.data.orderId, position, 0, { saleId: event.data.saleId, userId: event.data.userId, reason: 'cancelled' });
        return;
      case 'PaymentRefundRequested':
        if (event.data.reason === 'sold_out') {
          this.releases.add(event.data.orderId, position, 0, { saleId: event.data.saleId, userId: event.data.userId, reason: 'refunded' });
        }
        return;
      case 'QuotaReleased':
        this.releases.remove(event.data.reservationId);
        return;
      default:
        return;
    }
  }

  async tick(now: number): Promise<void> {
    await Promise.all(
      this.releases.due(now).map(async (item) => {
        const { saleId, userId, reason } = item.payload;
        try {
          await this.quota.release(saleId, userId, item.key, reason, { causationId: `quota-release:${item.key}`, userId, decidedAt: now });
          this.releases.remove(item.key);
        } catch (error) {
          this.logger.warn({ err: error, reservationId: item.key }, 'quota release not recorded yet; will retry');
          this.releases.retryLater(item, now);
        }
      }),
    );
  }

  lowWater(): number | undefined {
    return this.releases.lowWater();
  }

  status(now: number) {
    return { backlog: this.releases.size, overdueMs: this.releases.overdueMs(now) };
  }
}
