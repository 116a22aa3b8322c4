import { ADMITTED, Verdict } from './verdict';

/**
 * Misra–Gries "Frequent" summary of one slice of time: at most `capacity` counters, whatever the number of distinct
 * keys. A key seen more than n / (capacity + 1) times out of n is always kept, its count short by at most that much.
 * When a new key finds every counter taken, all counters lose one and the empty ones leave: a round costs `capacity`
 * steps but only happens after as many counted requests, so a request costs O(1) amortised, even from an attacker
 * who never sends the same IP twice.
 */
export class FrequentKeys {
  private readonly counts = new Map<string, number>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`a summary keeps ≥ 1 counter, got ${capacity}`);
  }

  add(key: string): void {
    const count = this.counts.get(key);
    if (count !== undefined) this.counts.set(key, count + 1);
    else if (this.counts.size < this.capacity) this.counts.set(key, 1);
    else this.decrementAll();
  }

  /** How many counters are held (≤ capacity): the memory bound. */
  get size(): number {
    return this.counts.size;
  }

  entries(): IterableIterator<[string, number]> {
    return this.counts.entries();
  }

  clear(): void {
    this.counts.clear();
  }

  private decrementAll(): void {
    for (const [key, count] of this.counts) {
      if (count <= 1) this.counts.delete(key);
      else this.counts.set(key, count - 1);
    }
  }
}

/** One key and its recent rate, in requests per second. */
export interface HotKey {
  readonly key: string;
  readonly rate: number;
}

/**
 * A sliding window of `slices` complete slices of `sliceMs`, each a FrequentKeys summary, plus the slice being
 * filled. Recording touches the current slice only; the window is merged when asked (`rates`).
 */
export class SlidingFrequentKeys {
  private readonly ring: FrequentKeys[];
  /** The slice index each ring slot holds (−1: never filled). */
  private readonly slotSlice: number[];

  constructor(
    private readonly slices: number,
    private readonly sliceMs: number,
    capacity: number,
  ) {
    this.ring = Array.from({ length: slices + 1 }, () => new FrequentKeys(capacity));
    this.slotSlice = Array.from({ length: slices + 1 }, () => -1);
  }

  add(key: string, slice: number): void {
    const slot = slice % this.ring.length;
    const summary = this.ring[slot] as FrequentKeys;
    if (this.slotSlice[slot] !== slice) {
      summary.clear();
      this.slotSlice[slot] = slice;
    }
    summary.add(key);
  }

  /** Counters held across the ring: at most (slices + 1) × capacity. */
  get size(): number {
    return this.ring.reduce((sum, summary, slot) => sum + (this.slotSlice[slot] === -1 ? 0 : summary.size), 0);
  }

  /** Every key of the complete slices before `current`, with its rate over `coveredSlices` of them. */
  rates(current: number, coveredSlices: number): HotKey[] {
    const totals = new Map<string, number>();
    for (let slot = 0; slot < this.ring.length; slot++) {
      const slice = this.slotSlice[slot] as number;
      if (slice < current - this.slices || slice >= current) continue;
      for (const [key, count] of (this.ring[slot] as FrequentKeys).entries()) totals.set(key, (totals.get(key) ?? 0) + count);
    }
    const seconds = (Math.max(1, coveredSlices) * this.sliceMs) / 1000;
    return [...totals].map(([key, count]) => ({ key, rate: count / seconds }));
  }
}

export interface HotSpotThrottle {
  /** HOTSPOT_THROTTLE: off by default; detection runs either way. */
  readonly enabled: boolean;
  /** A key is far above the crowd past `factor` × the median rate of the active keys of its kind… */
  readonly factor: number;
  /** …and past this many requests per second, whatever the crowd does (a quiet sale throttles nobody). */
  readonly floorPerS: number;
}

export interface HotSpotSettings {
  /** Counters per kind (sales, users, IPs) per slice: the memory bound. */
  readonly capacity: number;
  readonly sliceMs: number;
  /** The window is this many complete slices. */
  readonly slices: number;
  /** How many keys of each kind the ranking lists. */
  readonly top: number;
  readonly throttle: HotSpotThrottle;
}

export const DEFAULT_HOT_SPOT_SETTINGS: HotSpotSettings = {
  capacity: 1024,
  sliceMs: 1000,
  slices: 10,
  top: 10,
  throttle: { enabled: false, factor: 10, floorPerS: 5 },
};

export interface HotSpotRanking {
  readonly sales: HotKey[];
  readonly users: HotKey[];
  readonly ips: HotKey[];
}

export interface HotSpotOptions {
  readonly now: () => number;
  /** Sale ids come from clients: only those of existing sales are counted, so the ranking names real sales. */
  readonly isSale?: (saleId: string) => boolean;
}

export type HotSpotVerdict = Verdict<'RATE_LIMITED'>;

const byRate = (a: HotKey, b: HotKey): number => b.rate - a.rate || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

const median = (rates: readonly HotKey[]): number => {
  const sorted = Float64Array.from(rates, (r) => r.rate).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

/**
 * Dynamic hot-spot detection (seed 003): the sales, users and IPs with the highest request rate over the last
 * window, in bounded memory. A request costs three counter bumps (`record`); the ranking is merged when an operator
 * asks, and the throttled set once per slice, on the first request checked or recorded in the next one. With throttling on, a user or
 * IP whose rate is past `factor` × the crowd's median (and the floor) is refused RATE_LIMITED until its rate over
 * the window falls back: it keeps being counted while refused, so hammering on keeps it throttled.
 */
export class HotSpots {
  private readonly sales: SlidingFrequentKeys;
  private readonly users: SlidingFrequentKeys;
  private readonly ips: SlidingFrequentKeys;
  private currentSlice = -1;
  private firstSlice = -1;
  private throttledUsers: ReadonlySet<string> = new Set();
  private throttledIps: ReadonlySet<string> = new Set();
  private readonly refusal: HotSpotVerdict;

  constructor(
    readonly settings: HotSpotSettings,
    private readonly options: HotSpotOptions,
  ) {
    const { slices, sliceMs, capacity } = settings;
    this.sales = new SlidingFrequentKeys(slices, sliceMs, capacity);
    this.users = new SlidingFrequentKeys(slices, sliceMs, capacity);
    this.ips = new SlidingFrequentKeys(slices, sliceMs, capacity);
    // Its rate leaves the window within one window; the verdict is the same object every time, nothing per request.
    this.refusal = Object.freeze({
      ok: false,
      code: 'RATE_LIMITED',
      retryAfterMs: slices * sliceMs,
      reason: 'far more requests than the crowd; slow down',
    });
  }

  /** One request: its sale (when it names one), its user (once authenticated) and its client address. */
  record(saleId: string | undefined, userId: string | undefined, ip: string): void {
    const slice = this.roll();
    if (saleId !== undefined && (this.options.isSale?.(saleId) ?? true)) this.sales.add(saleId, slice);
    if (userId !== undefined) this.users.add(userId, slice);
    this.ips.add(ip, slice);
  }

  /** With throttling on: RATE_LIMITED for a user or an address far above the crowd. */
  check(userId: string | undefined, ip: string): HotSpotVerdict {
    this.roll();
    if ((userId !== undefined && this.throttledUsers.has(userId)) || this.throttledIps.has(ip)) return this.refusal;
    return ADMITTED;
  }

  /** The top keys of each kind by rate over the window of complete slices before now. */
  ranking(): HotSpotRanking {
    const slice = Math.floor(this.options.now() / this.settings.sliceMs);
    const top = (keys: SlidingFrequentKeys): HotKey[] =>
      this.ratesOf(keys, slice)
        .sort(byRate)
        .slice(0, this.settings.top)
        .map(({ key, rate }) => ({ key, rate: Math.round(rate * 100) / 100 }));
    return { sales: top(this.sales), users: top(this.users), ips: top(this.ips) };
  }

  /** Counters held for all three kinds: bounded by 3 × (slices + 1) × capacity. */
  get size(): number {
    return this.sales.size + this.users.size + this.ips.size;
  }

  private ratesOf(keys: SlidingFrequentKeys, slice: number): HotKey[] {
    const covered = this.firstSlice < 0 ? 0 : Math.min(this.settings.slices, slice - this.firstSlice);
    return covered === 0 ? [] : keys.rates(slice, covered);
  }

  /**
   * The slice of now, entering it first if it is new: checks roll too, so a verdict never waits for the first request
   * of a slice to be answered (a burst is checked before any of it is).
   */
  private roll(): number {
    const slice = Math.floor(this.options.now() / this.settings.sliceMs);
    if (slice !== this.currentSlice) this.enterSlice(slice);
    return slice;
  }

  private enterSlice(slice: number): void {
    if (this.firstSlice < 0) this.firstSlice = slice;
    this.currentSlice = slice;
    if (!this.settings.throttle.enabled) return;
    this.throttledUsers = this.farAboveTheCrowd(this.ratesOf(this.users, slice));
    this.throttledIps = this.farAboveTheCrowd(this.ratesOf(this.ips, slice));
  }

  private farAboveTheCrowd(rates: readonly HotKey[]): ReadonlySet<string> {
    if (rates.length === 0) return new Set();
    const { factor, floorPerS } = this.settings.throttle;
    const threshold = Math.max(floorPerS, factor * median(rates));
    return new Set(rates.filter((r) => r.rate > threshold).map((r) => r.key));
  }
}
