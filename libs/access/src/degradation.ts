import { ADMITTED, Verdict } from './verdict';

/**
 * API.md "PUT /admin/degradation": 0 normal; 1 entry throttling tightened; 2 the backend also drops a share of
 * purchase requests at random; 3 only already-admitted buyers proceed (no new access, purchases with a token go on).
 * Seed 000's three-level plan, operated by hand.
 */
export type DegradationLevel = 0 | 1 | 2 | 3;
export const DEGRADATION_LEVELS: readonly DegradationLevel[] = [0, 1, 2, 3];

export const isDegradationLevel = (value: unknown): value is DegradationLevel => (DEGRADATION_LEVELS as readonly unknown[]).includes(value);

/**
 * Where the level lives. Read on every purchase request, so `current()` answers from local memory; an
 * implementation shared between instances (Redis: a key plus pub/sub) keeps that local copy up to date and calls
 * the listeners whenever the level changes, whichever instance changed it.
 */
export interface DegradationState {
  current(): DegradationLevel;
  set(level: DegradationLevel): Promise<void>;
  /** Returns a function that unsubscribes. */
  onChange(listener: (level: DegradationLevel) => void): () => void;
}

export class InMemoryDegradationState implements DegradationState {
  private level: DegradationLevel;
  private readonly listeners = new Set<(level: DegradationLevel) => void>();

  constructor(initial: DegradationLevel = 0) {
    this.level = initial;
  }

  current(): DegradationLevel {
    return this.level;
  }

  async set(level: DegradationLevel): Promise<void> {
    if (!isDegradationLevel(level)) throw new RangeError(`a degradation level is 0, 1, 2 or 3, got ${String(level)}`);
    if (level === this.level) return;
    this.level = level;
    for (const listener of this.listeners) listener(level);
  }

  onChange(listener: (level: DegradationLevel) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** The two purchase routes: GET /sales/:id/access (new entry) and POST /sales/:id/reservations (a purchase). */
export type PurchaseStep = 'access' | 'reservation';

/** What level 1 tightens: the entry throttles (FrequencyLimits). */
export interface Tightenable {
  tighten(factor: number): void;
}

export interface DegradationSettings {
  /** Level 2: the share of purchase requests dropped at random, 0..1. */
  readonly dropShare: number;
  /** Level ≥ 1: the entry limits are divided by this. */
  readonly tightenFactor: number;
  readonly retryAfterMs: number;
}

export const DEFAULT_DEGRADATION_SETTINGS: DegradationSettings = { dropShare: 0.5, tightenFactor: 2, retryAfterMs: 1000 };

export interface DegradationOptions {
  readonly random: () => number;
  readonly limits?: Tightenable;
}

export type DegradationVerdict = Verdict<'DEGRADED'>;

/** Applies the level in force to one purchase request, and keeps the entry limits tightened from level 1 up. */
export class Degradation {
  readonly settings: DegradationSettings;
  private readonly random: () => number;

  constructor(
    private readonly state: DegradationState,
    settings: Partial<DegradationSettings>,
    options: DegradationOptions,
  ) {
    this.settings = { ...DEFAULT_DEGRADATION_SETTINGS, ...settings };
    const { dropShare, tightenFactor } = this.settings;
    if (!(dropShare >= 0 && dropShare <= 1)) throw new RangeError(`dropShare is in 0..1, got ${dropShare}`);
    if (!(tightenFactor >= 1)) throw new RangeError(`tightenFactor is ≥ 1, got ${tightenFactor}`);
    this.random = options.random;
    const { limits } = options;
    if (limits) {
      // Follows the level wherever it was changed (another instance included, with a shared state).
      const apply = (level: DegradationLevel): void => limits.tighten(level >= 1 ? tightenFactor : 1);
      apply(state.current());
      state.onChange(apply);
    }
  }

  level(): DegradationLevel {
    return this.state.current();
  }

  setLevel(level: DegradationLevel): Promise<void> {
    return this.state.set(level);
  }

  check(step: PurchaseStep): DegradationVerdict {
    const level = this.state.current();
    const { dropShare, retryAfterMs } = this.settings;
    if (level === 3) {
      if (step === 'reservation') return ADMITTED; // the handler still requires a valid purchase token
      return { ok: false, code: 'DEGRADED', retryAfterMs, reason: 'the sale admits no new buyers right now' };
    }
    if (level === 2 && this.random() < dropShare) {
      return { ok: false, code: 'DEGRADED', retryAfterMs, reason: 'the sale is shedding load, retry shortly' };
    }
    return ADMITTED;
  }
}
