import { buyerDecider, buyerStream, initialBuyerState, QuotaReleaseReason } from '@flash/domain';
import { CommandMetadata, encodeEvent, EventStore, loadStream, WrongExpectedRevision } from '@flash/event-store';
import { QuotaPort } from '../ports';

const MAX_ATTEMPTS = 8;

/** Releases a buyer's claim on their stream: read, fold, decide, append with the expected revision; retry on conflict. */
export class BuyerQuota implements QuotaPort {
  constructor(
    private readonly store: EventStore,
    private readonly now: () => number,
  ) {}

  async release(saleId: string, userId: string, reservationId: string, reason: QuotaReleaseReason, metadata: CommandMetadata): Promise<void> {
    const streamId = buyerStream(saleId, userId);
    for (let attempt = 1; ; attempt++) {
      const { state, expectedRevision } = await loadStream(this.store, streamId, buyerDecider.evolve, initialBuyerState(saleId, userId));
      const events = buyerDecider.decide({ type: 'ReleaseQuota', reservationId, reason }, state, this.now());
      if (events.length === 0) return;
      try {
        await this.store.append(streamId, events.map((e) => encodeEvent(streamId, e, metadata)), expectedRevision);
        return;
      } catch (error) {
        if (!(error instanceof WrongExpectedRevision) || attempt >= MAX_ATTEMPTS) throw error;
      }
    }
  }
}
