/** What the back end reports, sampled once per step. */
export interface BackendSignals {
  /** p99 event-loop delay of the last window, ms. */
  readonly eventLoopDelayMs: number;
  /** Recent durable append latency (moving average), ms. */
  readonly appendLatencyMs: number;
  /** Saga work waiting (due holds, releases, settlements) in this process. */
  readonly sagaBacklog: number;
}

/** Above any of these the back end is "stressed". */
export type BackendLimits = BackendSignals;

export const DEFAULT_BACKEND_LIMITS: BackendLimits = { eventLoopDelayMs: 100, appendLatencyMs: 100, sagaBacklog: 5000 };

/** The share of the configured rate never goes below this: a stressed back end slows the line, it never stops it. */
export const MIN_RATE_SHARE = 0.1;
/** A healthy step adds this share of the configured rate back. */
export const RECOVERY_STEP = 0.1;

/**
 * The admission rate follows the back end (issue #26), one step per sample (once a second):
 * - stressed (any signal above its limit): the share of each sale's admitPerSecond is halved, down to 10 %;
 * - healthy (every signal below half its limit): it grows back by 10 % of admitPerSecond, up to 100 %;
 * - in between: it holds. Halving fast and recovering slowly is TCP's rule (AIMD): the line drains at the rate
 *   the back end shows it can take, and a hiccup does not let a burst through.
 */
export class AdmissionRate {
  private currentShare = 1;

  constructor(
    private readonly limits: BackendLimits = DEFAULT_BACKEND_LIMITS,
    private readonly adaptive = true,
  ) {}

  /** The share of admitPerSecond admitted now, 0.1..1. */
  get share(): number {
    return this.currentShare;
  }

  /** One step of the rule, from one sample of the signals. */
  step(signals: BackendSignals): number {
    if (!this.adaptive) return this.currentShare;
    const keys = Object.keys(this.limits) as (keyof BackendSignals)[];
    if (keys.some((key) => signals[key] > this.limits[key])) {
      this.currentShare = Math.max(MIN_RATE_SHARE, this.currentShare / 2);
    } else if (keys.every((key) => signals[key] < this.limits[key] / 2)) {
      this.currentShare = Math.min(1, this.currentShare + RECOVERY_STEP);
    }
    return this.currentShare;
  }

  /** Admissions per second for a sale configured at `admitPerSecond`, never below one. */
  rateFor(admitPerSecond: number): number {
    return Math.max(1, admitPerSecond * this.currentShare);
  }
}
