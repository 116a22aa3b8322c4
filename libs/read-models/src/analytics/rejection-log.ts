import { DocumentIncrement, DocumentStore } from '../document-store';
import { timelineSecond } from './analytics.projection';

/** Refused purchases by sale, code and second. Not a generation of the projection: the log never sees them. */
export const REJECTIONS = 'rejections';

export const rejectionId = (saleId: string, code: string, second: number): string => `${saleId}:${code}:${String(second)}`;

interface PendingCount {
  readonly saleId: string;
  readonly code: string;
  readonly t: number;
  count: number;
}

/**
 * Counts refusals in memory on the hot path and adds them to the `rejections` documents every flush. Several
 * instances add to the same documents (`$inc`). What is not flushed yet is still counted by `pending`, so one
 * instance's answers are exact; a crash loses at most one flush interval of refusals, never an order.
 */
export class RejectionLog {
  private pendingCounts = new Map<string, PendingCount>();
  /** The batch being written: still counted by `pending` until the store has it. */
  private flushing: ReadonlyMap<string, PendingCount> = new Map();

  constructor(private readonly docs: DocumentStore) {}

  record(saleId: string, code: string, at: number): void {
    const t = timelineSecond(at);
    const key = rejectionId(saleId, code, t);
    const pending = this.pendingCounts.get(key);
    if (pending) pending.count += 1;
    else this.pendingCounts.set(key, { saleId, code, t, count: 1 });
  }

  /** Not yet written, for one sale. */
  pending(saleId: string): PendingCount[] {
    return [...this.flushing.values(), ...this.pendingCounts.values()].filter((p) => p.saleId === saleId).map((p) => ({ ...p }));
  }

  async flush(): Promise<void> {
    if (this.pendingCounts.size === 0) return;
    if (this.flushing.size > 0) return;
    const batch = this.pendingCounts;
    this.pendingCounts = new Map();
    this.flushing = batch;
    const increments: DocumentIncrement[] = [...batch.entries()].map(([id, p]) => ({
      collection: REJECTIONS,
      id,
      inc: { count: p.count },
      setOnInsert: { saleId: p.saleId, code: p.code, t: p.t },
    }));
    try {
      await this.docs.increment(increments);
      this.flushing = new Map();
    } catch (error) {
      this.flushing = new Map();
      // Put the counts back so the next flush carries them.
      for (const [id, p] of batch) {
        const since = this.pendingCounts.get(id);
        if (since) since.count += p.count;
        else this.pendingCounts.set(id, p);
      }
      throw error;
    }
  }
}
