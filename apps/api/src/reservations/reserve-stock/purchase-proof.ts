import { Injectable } from '@nestjs/common';
import { ProofOfWork, PurchaseTokens } from '@flash/access';
import { DomainError, SaleDefinition } from '@flash/domain';

/**
 * What a buyer must show besides their bearer token, per sale: the purchase token from the access endpoint (bound to
 * user and sale, short-lived; for a sale with its waiting room on, one issued on admission), and the answer to the sale's proof-of-work challenge when it has one.
 */
@Injectable()
export class PurchaseProof {
  constructor(
    private readonly tokens: PurchaseTokens,
    private readonly challenges: ProofOfWork,
  ) {}

  /** `receivedAt`: when the request arrived, which the challenge's minimum solve time is measured to (ProofOfWork.verify). */
  async check(sale: SaleDefinition, userId: string, purchaseToken: string, challengeAnswer: string | undefined, now: number, receivedAt: number = now): Promise<void> {
    // The one place the waiting room binds the purchase: a room-on sale takes only tokens issued on admission.
    const route = sale.waitingRoom?.enabled === true ? 'admitted' : 'direct';
    if (!this.tokens.verify(purchaseToken, userId, sale.saleId, now, route)) {
      throw new DomainError('INVALID_PURCHASE_TOKEN', 'the purchase token is missing, expired, or not for this user and sale');
    }
    if (sale.challenge !== 'pow') return;
    const verdict = await this.challenges.verify(challengeAnswer, userId, sale.saleId, now, receivedAt);
    if (!verdict.ok) throw new DomainError('CHALLENGE_FAILED', verdict.reason);
  }
}
