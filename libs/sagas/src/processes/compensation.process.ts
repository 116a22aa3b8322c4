import { DomainEvent, SoldOut } from '@flash/domain';
import { Logger } from 'pino';
import { PendingItem } from '../pending-work';
import { ShardAccess, QuotaPort } from '../ports';
import { PendingWorkProcess } from './log-process';

export interface CompensationOptions {
  /** How long a claim may stay without its order before this process looks at it. */
  readonly settleAfterMs: number;
  /** How long the client's attempt stays valid (its purchase token's life): within it the reservation is redone. */
  readonly clientWindowMs: number;
}

interface Claim {
  readonly saleId: string;
  readonly userId: string;
  readonly quantity: number;
  readonly claimedAt: number;
}

/**
 * Settles a QuotaClaimed whose shard append failed or ended with an unknown outcome (seed 000's rollback vs. async
 * redo): while the client's attempt is still valid and the sale open, redo the reservation (the shard decider is
 * idempotent per order, so a reservation that did land is found, not doubled); otherwise release the quota. Either
 * way the choice is an event an auditor can read: OrderPlaced, or QuotaReleased {reason: sold_out | compensated}.
 */
export class CompensationProcess extends PendingWorkProcess<Claim> {
  readonly name = 'compensation';

  constructor(
    private readonly inventory: ShardAccess,
    private readonly quota: QuotaPort,
    logger: Logger,
    private readonly options: CompensationOptions,
  ) {
    super(logger);
  }

  apply(event: DomainEvent, position: number): void {
    switch (event.type) {
      case 'QuotaClaimed': {
        const { reservationId, saleId, userId, quantity, claimedAt } = event.data;
        this.pending.add(reservationId, position, claimedAt + this.options.settleAfterMs, { saleId, userId, quantity, claimedAt });
        return;
      }
      case 'OrderPlaced':
        this.pending.remove(event.data.orderId);
        return;
      case 'QuotaReleased':
        this.pending.remove(event.data.reservationId);
        return;
      default:
        return;
    }
  }

  protected async work(item: PendingItem<Claim>, now: number): Promise<'done' | 'retry'> {
    const claim = item.payload;
    const metadata = { causationId: `compensation:${item.key}`, userId: claim.userId, decidedAt: now };
    const sale = this.inventory.sale(claim.saleId);
    const windowEnds = claim.claimedAt + this.options.clientWindowMs;
    // Just past the window a client's own retry may still be redoing it: wait one settle period before giving up.
    if (now > windowEnds && now <= windowEnds + this.options.settleAfterMs) return 'retry';
    if (sale && now <= windowEnds && now < sale.endsAt) {
      try {
        await this.inventory.placeOrder(claim.saleId, item.key, claim.userId, claim.quantity, metadata);
      } catch (error) {
        if (!(error instanceof SoldOut)) throw error;
        await this.quota.releaseClaim(claim.saleId, claim.userId, item.key, 'sold_out', metadata);
      }
    } else {
      await this.quota.releaseClaim(claim.saleId, claim.userId, item.key, 'compensated', metadata);
    }
    return 'done';
  }
}
