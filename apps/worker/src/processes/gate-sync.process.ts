import { DomainEvent } from '@flash/domain';
import { Logger } from 'pino';
import { PendingWork } from '../pending-work';
import { LogProcess } from './log-process';

export interface GateReleasePort {
  release(saleId: string, reservationId: string): Promise<void>;
}

/**
 * Keeps the eligibility gate converging to the store: when a hold ends (expired, cancelled) or a claim is given
 * back (sold out at the shard, compensated), the gate gets the stock and the buyer's quota back. Gate releases are
 * idempotent per reservation, so replays and duplicate deliveries do nothing more.
 */
export class GateSyncProcess implements LogProcess {
  readonly name = 'gate-sync';
  private readonly releases = new PendingWork<{ saleId: string }>();

  constructor(
    private readonly gate: GateReleasePort,
    private readonly logger: Logger,
  ) {}

  apply(event: DomainEvent, position: number): void {
    switch (event.type) {
      case 'ReservationExpired':
      case 'OrderCancelled':
        this.releases.add(event.data.orderId, position, 0, { saleId: event.data.saleId });
        return;
      case 'QuotaReleased':
        this.releases.add(event.data.reservationId, position, 0, { saleId: event.data.saleId });
        return;
      default:
        return;
    }
  }

  async tick(now: number): Promise<void> {
    await Promise.all(
      this.releases.due(now).map(async (item) => {
        try {
          await this.gate.release(item.payload.saleId, item.key);
          this.releases.remove(item.key);
        } catch (error) {
          this.logger.warn({ err: error, reservationId: item.key }, 'gate release failed; will retry');
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
