import { buyerDecider, BuyerEvent, BuyerState, buyerStream, claimForKey, IdempotencyKeyReused, initialBuyerState, QuotaClaim, QuotaReleaseReason, RetryLater } from '@flash/domain';
import { CommandMetadata, DuplicateEventId, LoadedStream, loadStream, NO_STREAM, EventStore, WrongExpectedRevision } from '@flash/event-store';
import { ClaimantIndex } from '../catalog/claimant-index';
import { Clock } from '../clock';
import { decideAndAppend } from '../decide-and-append';

export interface ClaimRequest {
  readonly saleId: string;
  readonly userId: string;
  readonly reservationId: string;
  readonly idempotencyKey: string;
  readonly quantity: number;
  readonly perUserLimit: number;
}

export interface BuyerQuotaOptions {
  /**
   * This process is the only one that claims in this store (embedded SQLite, one api): a buyer the claimant index
   * does not list has certainly never claimed, and costs no read. False wherever several processes may claim.
   */
  readonly soleClaimant: boolean;
  readonly clock: Clock;
}

/**
 * A buyer's quota in one sale, on the buyer stream: the one place that reads it, claims on it and releases it.
 * The claim is QuotaClaimed under the buyer's Idempotency-Key (per-user limit, durable idempotency); its event id is
 * the key's, so a key the user already claimed under in another sale is refused by the store (IDEMPOTENCY_KEY_REUSED).
 */
export class BuyerQuota {
  constructor(
    private readonly store: EventStore,
    private readonly claimants: ClaimantIndex,
    private readonly options: BuyerQuotaOptions,
  ) {}

  /** The buyer stream folded: from the store, or known empty without a read (see `soleClaimant`). */
  load(saleId: string, userId: string): Promise<LoadedStream<BuyerState>> {
    if (this.options.soleClaimant && !this.claimants.mayHaveClaimed(saleId, userId)) {
      return Promise.resolve({ state: initialBuyerState(saleId, userId), expectedRevision: NO_STREAM, position: 0 });
    }
    return this.read(saleId, userId);
  }

  /** Always from the store. */
  read(saleId: string, userId: string): Promise<LoadedStream<BuyerState>> {
    return loadStream(this.store, buyerStream(saleId, userId), buyerDecider.evolve, initialBuyerState(saleId, userId));
  }

  /**
   * Records the claim ('ordered': nothing is acknowledged on it alone; see the store port) and returns it with its
   * global position, for the caller to wait on its durability before answering.
   */
  async claim(request: ClaimRequest, metadata: CommandMetadata, loaded?: LoadedStream<BuyerState>): Promise<{ claim: QuotaClaim; position: number }> {
    const { saleId, userId, idempotencyKey } = request;
    const decided = await decideAndAppend<BuyerState, BuyerEvent>(this.store, {
      streamId: buyerStream(saleId, userId),
      evolve: buyerDecider.evolve,
      initial: initialBuyerState(saleId, userId),
      decide: (state) => buyerDecider.decide({ type: 'ClaimQuota', ...request }, state, this.options.clock.now()),
      metadata,
      durability: 'ordered',
      ...(loaded === undefined ? {} : { loaded }),
      ...(this.options.soleClaimant ? { beforeAppend: () => this.claimants.note(saleId, userId) } : {}),
      isConflict: (error) => error instanceof WrongExpectedRevision || error instanceof DuplicateEventId,
      afterConflict: (error, reread) => {
        // The claim's id is the key's: stored, yet not in this sale's stream, it was claimed in another sale.
        if (error instanceof DuplicateEventId && claimForKey(reread.state, idempotencyKey) === undefined) throw new IdempotencyKeyReused(idempotencyKey);
      },
      exhausted: () => new RetryLater('OVERLOADED', 'too many concurrent attempts for this buyer, retry with the same Idempotency-Key', 1000),
    });
    return { claim: claimForKey(decided.state, idempotencyKey) as QuotaClaim, position: decided.position };
  }

  /** Resolves once the claim at `position` is durable (see the store port's `whenDurable`). */
  whenDurable(position: number): Promise<void> {
    return this.store.whenDurable(position);
  }

  /** Appends QuotaReleased unless the claim is already released; retries on optimistic-concurrency conflicts. */
  async releaseClaim(saleId: string, userId: string, reservationId: string, reason: QuotaReleaseReason, metadata: CommandMetadata): Promise<void> {
    await decideAndAppend<BuyerState, BuyerEvent>(this.store, {
      streamId: buyerStream(saleId, userId),
      evolve: buyerDecider.evolve,
      initial: initialBuyerState(saleId, userId),
      decide: (state) => buyerDecider.decide({ type: 'ReleaseQuota', reservationId, reason }, state, this.options.clock.now()),
      metadata,
      exhausted: () => new RetryLater('OVERLOADED', `quota release for ${reservationId} kept conflicting`, 1000),
    });
  }
}
