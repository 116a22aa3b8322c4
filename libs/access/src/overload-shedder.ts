import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ADMITTED, Verdict } from './verdict';

/** Where the event loop's lateness comes from; a port so tests can play any load. */
export interface EventLoopDelaySampler {
  /** p99 of how late the loop ran, in ms, since the last reset. */
  p99Ms(): number;
  reset(): void;
  close(): void;
}

/** perf_hooks' histogram: a timer every `resolutionMs`, each sample how long it actually took. */
export const monitorEventLoop = (resolutionMs = 10): EventLoopDelaySampler => {
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  return {
    // The histogram records the whole interval; the delay is what exceeds the resolution.
    p99Ms: () => (histogram.count === 0 ? 0 : Math.max(0, histogram.percentile(99) / 1e6 - resolutionMs)),
    reset: () => histogram.reset(),
    close: () => histogram.disable(),
  };
};

export interface OverloadSettings {
  /** Shed while the last window's p99 event-loop delay is above this. */
  readonly maxEventLoopDelayMs: number;
  /** Shed while more requests than this are being served at once. */
  readonly maxInFlight: number;
  /** How long one event-loop-delay window lasts. */
  readonly windowMs: number;
  /** Told to a shed client: about one window, by when the verdict may have changed. */
  readonly retryAfterMs: number;
}

export const DEFAULT_OVERLOAD_SETTINGS: OverloadSettings = {
  maxEventLoopDelayMs: 200,
  maxInFlight: 2000,
  windowMs: 1000,
  retryAfterMs: 1000,
};

export type OverloadVerdict = Verdict<'OVERLOADED'>;

export interface OverloadShedderOptions {
  readonly now: () => number;
  /** Defaults to perf_hooks' event-loop-delay histogram. */
  readonly sampler?: EventLoopDelaySampler;
}

/**
 * Overload shedding (seed 002's "overload discard"): refuse new work while the process is already behind, so the
 * requests it does accept finish in time instead of all of them timing out. Two signals: the p99 event-loop delay
 * of the last completed window (the loop is saturated) and the number of requests in flight (work is piling up
 * behind a slow dependency). Stays on when ACCESS_LIMITS=off: it protects the process, not the fairness of the sale.
 * Windows roll on `check()`, so nothing runs while no request comes.
 */
export class OverloadShedder {
  readonly settings: OverloadSettings;
  private readonly sampler: EventLoopDelaySampler;
  private readonly now: () => number;
  private windowStartedAt: number;
  private delayMs = 0;
  private inFlightCount = 0;

  constructor(settings: Partial<OverloadSettings>, options: OverloadShedderOptions) {
    this.settings = { ...DEFAULT_OVERLOAD_SETTINGS, ...settings };
    this.now = options.now;
    this.sampler = options.sampler ?? monitorEventLoop();
    this.windowStartedAt = this.now();
  }

  /** A request started; pair with exactly one `leave()`. */
  enter(): void {
    this.inFlightCount++;
  }

  leave(): void {
    if (this.inFlightCount > 0) this.inFlightCount--;
  }

  get inFlight(): number {
    return this.inFlightCount;
  }

  /** The p99 event-loop delay of the last completed window, in ms. */
  get eventLoopDelayMs(): number {
    this.roll();
    return this.delayMs;
  }

  /** Called for a request already counted by `enter()`. */
  check(): OverloadVerdict {
    this.roll();
    const { maxEventLoopDelayMs, maxInFlight, retryAfterMs } = this.settings;
    if (this.delayMs > maxEventLoopDelayMs) {
      return { ok: false, code: 'OVERLOADED', retryAfterMs, reason: `the server is behind (event-loop delay ${Math.round(this.delayMs)} ms)` };
    }
    if (this.inFlightCount > maxInFlight) {
      return { ok: false, code: 'OVERLOADED', retryAfterMs, reason: `the server is busy (${this.inFlightCount} requests in flight)` };
    }
    return ADMITTED;
  }

  close(): void {
    this.sampler.close();
  }

  private roll(): void {
    const now = this.now();
    if (now - this.windowStartedAt < this.settings.windowMs) return;
    this.delayMs = this.sampler.p99Ms();
    this.sampler.reset();
    this.windowStartedAt = now;
  }
}
