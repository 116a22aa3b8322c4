/** The refusal codes the access layer answers with; each is a code of API.md's error table. */
export type AccessRefusalCode = 'BLOCKED' | 'RATE_LIMITED' | 'OVERLOADED' | 'DEGRADED' | 'CHALLENGE_FAILED';

export interface Admitted {
  readonly ok: true;
}

export interface Refused<C extends AccessRefusalCode> {
  readonly ok: false;
  readonly code: C;
  /** When a retry may succeed; absent for refusals a retry cannot fix. */
  readonly retryAfterMs?: number;
  readonly reason: string;
}

export type Verdict<C extends AccessRefusalCode> = Admitted | Refused<C>;

export const ADMITTED: Admitted = Object.freeze({ ok: true });
