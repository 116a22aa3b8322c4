import { Injectable } from '@nestjs/common';
import { PowChallenge, ProofOfWork, PurchaseTokens } from '@flash/access';
import { SaleDefinition } from '@flash/domain';

/** What a buyer is handed to purchase with: the access route's 200, and the waiting room's once admitted. */
export interface PurchaseGrant {
  readonly purchaseToken: string;
  readonly expiresAt: string;
  readonly challenge?: PowChallenge;
}

/** An admission through the waiting room: its token is marked as such and ends with the admitted slot. */
export interface AdmittedSlot {
  readonly endsAt: number;
}

/**
 * The one code path that hands out purchase tokens (and the sale's challenge): GET /sales/:id/access for a sale
 * without a waiting room, GET /sales/:id/queue/:ticket for an admitted buyer of a sale with one.
 */
@Injectable()
export class PurchaseGrants {
  constructor(
    private readonly tokens: PurchaseTokens,
    private readonly challenges: ProofOfWork,
  ) {}

  async grant(sale: SaleDefinition, userId: string, now: number, admitted?: AdmittedSlot): Promise<PurchaseGrant> {
    const { purchaseToken, expiresAt } = admitted
      ? this.tokens.issue(userId, sale.saleId, now, 'admitted', admitted.endsAt)
      : this.tokens.issue(userId, sale.saleId, now);
    const challenge = sale.challenge === 'pow' ? await this.challenges.issue(userId, sale.saleId, now) : undefined;
    return { purchaseToken, expiresAt: new Date(expiresAt).toISOString(), ...(challenge ? { challenge } : {}) };
  }
}
