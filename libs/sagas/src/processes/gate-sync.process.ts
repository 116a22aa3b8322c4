import { DomainEvent } from '@flash/domain';
import { Logger } from 'pino';
import { PendingItem } from '../pending-work';
import { PendingWorkProcess } from './log-process';

export interface GateReleasePort {
  releaseHold(saleId: string, reservationId: string): Promise<void>;
}

/**
 * Keeps the eligibility gate converging to the store: when a hold ends (expired, cancelled) or a claim is given
 * back (sold out at the shard, compensated), the gate gets the stock and the buyer's quota back. Gate releases are
 * idempotent per reservation, so replays and duplicate deliveries do nothing more.
 */
export class GateSyncProcess extends PendingWorkProcess<{ saleId: string }> {
  readonly name = 'gate-sync';
  /** A release is due the moment its event is read, and no later event can make it wrong: done during the replay. */
  readonly worksWhileReplaying = true;

  constructor(
    private readonly gate: GateReleasePort,
    logger: Logger,
  ) {
    super(logger);
  }

  apply(event: DomainEvent, position: number): void {
    switch (event.type) {
      case 'ReservationExpired':
      case 'OrderCancelled':
        this.pending.add(event.data.orderId, position, 0, { saleId: event.data.saleId });
        return;
      case 'QuotaReleased':
        this.pending.add(event.data.reservationId, position, 0, { saleId: event.data.saleId });
        return;
      default:
        return;
    }
  }

  protected async work(item: PendingItem<{ saleId: string }>): Promise<'done'> {
    await this.gate.releaseHold(item.payload.saleId, item.key);
    return 'done';
  }
}
