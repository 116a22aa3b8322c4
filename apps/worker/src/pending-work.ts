export interface PendingItem<T> {
  readonly key: string;
  /** Position of the event that created the work: the log must be replayed from here to rebuild it. */
  readonly position: number;
  readonly dueAt: number;
  readonly payload: T;
  nextTryAt: number;
  attempts: number;
}

/**
 * Work derived from the log and not yet done: deadlines, releases, unsettled claims. It is never the truth —
 * the log is — so it can be rebuilt by replaying from its low-water mark after any crash.
 */
export class PendingWork<T> {
  private readonly items = new Map<string, PendingItem<T>>();

  add(key: string, position: number, dueAt: number, payload: T): void {
    if (!this.items.has(key)) this.items.set(key, { key, position, dueAt, payload, nextTryAt: dueAt, attempts: 0 });
  }

  remove(key: string): void {
    this.items.delete(key);
  }

  has(key: string): boolean {
    return this.items.has(key);
  }

  due(now: number): PendingItem<T>[] {
    const due: PendingItem<T>[] = [];
    for (const item of this.items.values()) if (item.dueAt <= now && item.nextTryAt <= now) due.push(item);
    return due.sort((a, b) => a.dueAt - b.dueAt);
  }

  /** Try again later, backing off up to 30 s. */
  retryLater(item: PendingItem<T>, now: number): void {
    item.attempts++;
    item.nextTryAt = now + Math.min(30_000, 250 * 2 ** Math.min(item.attempts, 7));
  }

  /** The smallest position any pending item came from, or undefined when nothing is pending. */
  lowWater(): number | undefined {
    let low: number | undefined;
    for (const item of this.items.values()) if (low === undefined || item.position < low) low = item.position;
    return low;
  }

  /** How late the most overdue item is (0 when nothing is overdue). */
  overdueMs(now: number): number {
    let worst = 0;
    for (const item of this.items.values()) if (item.dueAt < now) worst = Math.max(worst, now - item.dueAt);
    return worst;
  }

  get size(): number {
    return this.items.size;
  }
}
