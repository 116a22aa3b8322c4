import { DocumentIncrement, DocumentStore } from '../document-store';

/** A counted document's own fields (what `$setOnInsert` writes once): every one of them names a sale. */
export type CountedFields = { readonly saleId: string } & Readonly<Record<string, string | number>>;

/** A document's pending count, with its fields. */
export type PendingCount<F extends CountedFields> = F & { count: number };

/**
 * Counts kept in memory on a hot path and added to `{...fields, count}` documents every flush (`$inc`, the fields
 * set on insert), so several processes add to the same documents. What is not flushed yet, the batch being written
 * included, is still counted by `pending`: one process's answers are exact, and a crash loses at most one flush
 * interval of counts, never an order. The refusal counts and the waiting room's waits are two of these.
 */
export class PendingIncrements<F extends CountedFields> {
  private counts = new Map<string, PendingCount<F>>();
  /** The batch being written: still counted by `pending` until the store has it. */
  private flushing: ReadonlyMap<string, PendingCount<F>> = new Map();

  constructor(
    private readonly docs: DocumentStore,
    private readonly collection: string,
  ) {}

  /** One more for document `id`, whose fields are `fields`. */
  add(id: string, fields: F): void {
    const pending = this.counts.get(id);
    if (pending) pending.count += 1;
    else this.counts.set(id, { ...fields, count: 1 });
  }

  /** Not yet written, for one sale: copies, so a reader cannot disturb the counting. */
  pending(saleId: string): PendingCount<F>[] {
    return [...this.flushing.values(), ...this.counts.values()].filter((p) => p.saleId === saleId).map((p) => ({ ...p }));
  }

  /** Adds the counts so far to their documents; one flush at a time (a flush while one is writing does nothing). */
  async flush(): Promise<void> {
    if (this.counts.size === 0 || this.flushing.size > 0) return;
    const batch = this.counts;
    this.counts = new Map();
    this.flushing = batch;
    const increments: DocumentIncrement[] = [...batch.entries()].map(([id, { count, ...fields }]) => ({
      collection: this.collection,
      id,
      inc: { count },
      setOnInsert: fields,
    }));
    try {
      await this.docs.increment(increments);
    } catch (error) {
      // Put the counts back so the next flush carries them.
      for (const [id, p] of batch) {
        const since = this.counts.get(id);
        if (since) since.count += p.count;
        else this.counts.set(id, p);
      }
      throw error;
    } finally {
      this.flushing = new Map();
    }
  }
}
