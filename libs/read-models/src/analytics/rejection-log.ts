import { DocumentStore } from '../document-store';
import { timelineSecond } from './analytics.projection';
import { PendingIncrements } from './pending-increments';

/** Refused purchases by sale, code and second. Not a generation of the projection: the log never sees them. */
export const REJECTIONS = 'rejections';

export const rejectionId = (saleId: string, code: string, second: number): string => `${saleId}:${code}:${String(second)}`;

/**
 * Counts refusals in memory on the hot path and adds them to the `rejections` documents every flush (PendingIncrements:
 * several instances add to the same documents; what is not flushed yet still counts in `pending`).
 */
export class RejectionLog {
  private readonly counts: PendingIncrements<{ saleId: string; code: string; t: number }>;

  constructor(docs: DocumentStore) {
    this.counts = new PendingIncrements(docs, REJECTIONS);
  }

  record(saleId: string, code: string, at: number): void {
    const t = timelineSecond(at);
    this.counts.add(rejectionId(saleId, code, t), { saleId, code, t });
  }

  /** Not yet written, for one sale. */
  pending(saleId: string): Array<{ saleId: string; code: string; t: number; count: number }> {
    return this.counts.pending(saleId);
  }

  flush(): Promise<void> {
    return this.counts.flush();
  }
}
