import { DomainEvent } from '@flash/domain';

/**
 * Per sale, the users whose buyer stream holds a claim. Where one process is the only one that claims (the embedded
 * store, one api), a user not listed has certainly never claimed: their attempt costs no read of the buyer stream.
 */
export class ClaimantIndex {
  private readonly claimants = new Map<string, Set<string>>();

  reads(type: string): boolean {
    return type === 'QuotaClaimed';
  }

  apply(event: DomainEvent): void {
    if (event.type === 'QuotaClaimed') this.note(event.data.saleId, event.data.userId);
  }

  /** Whether this buyer may have claimed in this sale; false is certain only for the sole claiming process. */
  mayHaveClaimed(saleId: string, userId: string): boolean {
    return this.claimants.get(saleId)?.has(userId) === true;
  }

  /** Every (sale, user) listed, for a catalog snapshot. */
  *entries(): IterableIterator<readonly [saleId: string, userId: string]> {
    for (const [saleId, users] of this.claimants) for (const userId of users) yield [saleId, userId];
  }

  /** Called before a claim is appended, so a retry racing the log subscription still reads the buyer stream. */
  note(saleId: string, userId: string): void {
    let users = this.claimants.get(saleId);
    if (users === undefined) this.claimants.set(saleId, (users = new Set()));
    users.add(userId);
  }
}
