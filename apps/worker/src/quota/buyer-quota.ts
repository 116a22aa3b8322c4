import { buyerDecider, buyerStream, initialBuyerState, QuotaReleaseReason } from '@flash/domain';
import { CommandMetadata, decodeEvent, encodeEvent, EventStore, NO_STREAM, WrongExpectedRevision } from '@flash/event-store';
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
      const recorded = await this.store.readStream(streamId);
      let state = initialBuyerState(saleId, userId);
      for (const r of recorded) state = buyerDecider.evolve(state, decodeEvent(r) as Parameters<typeof buyerDecider.evolve>[1]);
      const events = buyerDecider.decide({ type: 'ReleaseQuota', reservationId, reason }, state, this.now());
      if (events.length === 0) return;
      const last = recorded[recorded.length - 1];
      try {
        await this.store.append(streamId, events.map((e) => encodeEvent(streamId, e, metadata)), last ? last.revision : NO_STREAM);
        return;
      } catch (error) {
        if (!(error instanceof WrongExpectedRevision) || attempt >= MAX_ATTEMPTS) throw error;
      }
    }
  }
}
