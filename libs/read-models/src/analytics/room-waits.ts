import { DocumentStore, ResultRow } from '../document-store';
import { PendingIncrements } from './pending-increments';

/**
 * How long the waiting room's admitted buyers waited (ticket to admission), per sale, as a histogram: one document per
 * sale and wait bucket, `{saleId, ms, count}`. Like the rejections, not a generation of the projection: admissions
 * are decided in Redis (or one api process) and never reach the log; the process whose pump admitted a buyer adds
 * it here (`$inc`), so every api replica's admissions add up in one summary, wherever the projection runs.
 */
export const ROOM_WAITS = 'room_waits';

/**
 * A wait's bucket: its value kept to two significant figures, rounded down (1234 ms → 1200, 87 ms → 87). A
 * percentile read from the buckets is within 10 % below the true one, with at most 90 buckets per decade of waits
 * (about 400 documents for a sale whose waits span 1 ms to an hour).
 */
export const waitBucket = (waitMs: number): number => {
  const ms = Math.max(0, Math.floor(waitMs));
  if (ms < 100) return ms;
  const unit = 10 ** (Math.floor(Math.log10(ms)) - 1);
  return Math.floor(ms / unit) * unit;
};

export interface RoomWaitSummary {
  /** Buyers admitted (the histogram's total). */
  readonly admitted: number;
  /** Wait percentiles, ms (nearest rank over the buckets, each bucket's lower bound). */
  readonly waitMs: { readonly p50: number; readonly p99: number };
}

/** Nearest-rank percentiles over `{ms, count}` buckets; undefined when empty. */
export const summariseWaits = (buckets: readonly { readonly ms: number; readonly count: number }[]): RoomWaitSummary | undefined => {
  const sorted = [...buckets].filter((b) => b.count > 0).sort((a, b) => a.ms - b.ms);
  const admitted = sorted.reduce((n, b) => n + b.count, 0);
  if (admitted === 0) return undefined;
  const at = (p: number): number => {
    const rank = Math.max(1, Math.ceil(p * admitted));
    let seen = 0;
    for (const b of sorted) if ((seen += b.count) >= rank) return b.ms;
    return (sorted.at(-1) as { ms: number }).ms;
  };
  return { admitted, waitMs: { p50: at(0.5), p99: at(0.99) } };
};

const num = (value: unknown): number => (typeof value === 'number' ? value : 0);

/**
 * The histogram's writer and reader. `record` is called by the waiting room's pump (a handful of admissions per tick)
 * and only counts in memory; `flush` adds the counts to the documents; what is not flushed yet still counts in
 * `summary`, so one process's answers are exact. A crash loses at most one flush interval of waits, never an order.
 */
export class RoomWaitLog {
  private readonly counts: PendingIncrements<{ saleId: string; ms: number }>;

  constructor(private readonly docs: DocumentStore) {
    this.counts = new PendingIncrements(docs, ROOM_WAITS);
  }

  record(saleId: string, waitMs: number): void {
    const ms = waitBucket(waitMs);
    this.counts.add(`${saleId}:${String(ms)}`, { saleId, ms });
  }

  /** The sale's admissions and wait percentiles, stored and pending; undefined when nobody was admitted. */
  async summary(saleId: string, limits: { readonly maxRows: number; readonly maxTimeMs: number }): Promise<RoomWaitSummary | undefined> {
    const stored = await this.docs.aggregate(ROOM_WAITS, [{ $match: { saleId } }], limits);
    return summariseWaits([...stored.rows.map((row: ResultRow) => ({ ms: num(row.ms), count: num(row.count) })), ...this.counts.pending(saleId)]);
  }

  flush(): Promise<void> {
    return this.counts.flush();
  }
}
