export interface PendingItem<T> {
  readonly key: string;
  /** Position of the event that created the work: the log must be replayed from here to rebuild it. */
  readonly position: number;
  readonly dueAt: number;
  readonly payload: T;
  nextTryAt: number;
  attempts: number;
}

interface Entry<T> {
  readonly at: number;
  readonly item: PendingItem<T>;
}

/** A binary min-heap of (time, item) entries: the next try of every pending item, found without a scan. */
class TryQueue<T> {
  private readonly heap: Entry<T>[] = [];

  get length(): number {
    return this.heap.length;
  }

  push(entry: Entry<T>): void {
    const h = this.heap;
    h.push(entry);
    for (let i = h.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if ((h[parent] as Entry<T>).at <= entry.at) break;
      h[i] = h[parent] as Entry<T>;
      h[parent] = entry;
      i = parent;
    }
  }

  peek(): Entry<T> | undefined {
    return this.heap[0];
  }

  pop(): Entry<T> | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    h[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let least = i;
      if (l < h.length && (h[l] as Entry<T>).at < (h[least] as Entry<T>).at) least = l;
      if (r < h.length && (h[r] as Entry<T>).at < (h[least] as Entry<T>).at) least = r;
      if (least === i) break;
      [h[i], h[least]] = [h[least] as Entry<T>, h[i] as Entry<T>];
      i = least;
    }
    return top;
  }

  clear(): void {
    this.heap.length = 0;
  }
}

/**
 * Work derived from the log and not yet done: deadlines, releases, unsettled claims. It is never the truth —
 * the log is — so it can be rebuilt by replaying from its low-water mark after any crash.
 *
 * A sale leaves one pending expiry per unpaid order, so a tick must not scan them all: the next tries sit in a
 * min-heap (an entry whose item was removed or rescheduled is dropped when it surfaces), and since items arrive in
 * log order the oldest position is the first item still in the map.
 */
export class PendingWork<T> {
  private readonly items = new Map<string, PendingItem<T>>();
  private readonly queue = new TryQueue<T>();
  /** Whether every add so far came at a position no lower than the one before (the log's order). */
  private inLogOrder = true;
  private lastPosition = -Infinity;

  add(key: string, position: number, dueAt: number, payload: T): void {
    if (this.items.has(key)) return;
    const item: PendingItem<T> = { key, position, dueAt, payload, nextTryAt: dueAt, attempts: 0 };
    this.items.set(key, item);
    this.queue.push({ at: dueAt, item });
    if (position < this.lastPosition) this.inLogOrder = false;
    this.lastPosition = position;
  }

  remove(key: string): void {
    this.items.delete(key);
    if (this.items.size === 0) {
      this.queue.clear();
      this.inLogOrder = true;
      this.lastPosition = -Infinity;
    }
  }

  has(key: string): boolean {
    return this.items.has(key);
  }

  /** The items whose next try has come, earliest deadline first, then in log order. Asking changes nothing. */
  due(now: number): PendingItem<T>[] {
    const due: PendingItem<T>[] = [];
    const seen = new Set<PendingItem<T>>();
    for (let top = this.queue.peek(); top !== undefined && top.at <= now; top = this.queue.peek()) {
      const { item, at } = this.queue.pop() as Entry<T>;
      const live = this.items.get(item.key) === item && item.nextTryAt === at;
      if (live && !seen.has(item)) {
        seen.add(item);
        due.push(item);
      }
    }
    for (const item of due) this.queue.push({ at: item.nextTryAt, item });
    this.compact();
    return due.sort((a, b) => a.dueAt - b.dueAt || a.position - b.position);
  }

  /** Try again later, backing off up to 30 s. */
  retryLater(item: PendingItem<T>, now: number): void {
    item.attempts++;
    item.nextTryAt = now + Math.min(30_000, 250 * 2 ** Math.min(item.attempts, 7));
    if (this.items.get(item.key) === item) this.queue.push({ at: item.nextTryAt, item });
  }

  /** Entries of removed or rescheduled items wait in the heap until they surface; rebuild when they dominate. */
  private compact(): void {
    if (this.queue.length <= 2 * this.items.size + 1024) return;
    this.queue.clear();
    for (const item of this.items.values()) this.queue.push({ at: item.nextTryAt, item });
  }

  /** The smallest position any pending item came from, or undefined when nothing is pending. */
  lowWater(): number | undefined {
    if (this.inLogOrder) {
      for (const item of this.items.values()) return item.position; // insertion order is log order
      return undefined;
    }
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
