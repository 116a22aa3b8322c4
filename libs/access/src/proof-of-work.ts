import { randomInt } from 'node:crypto';
import type * as AltchaV1 from 'altcha-lib/dist/cjs/v1/index';
import { ADMITTED, Verdict } from './verdict';

// altcha-lib is an ES module with a CommonJS build behind its export map. This project resolves modules the
// node10 way, which reads no export map: the code comes through the map at run time, the types by file path.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const altcha = require('altcha-lib/v1') as typeof AltchaV1;

/**
 * What GET /sales/:id/access returns as `challenge` (API.md: `{type: "pow", salt, difficulty}`), plus what a
 * client needs to solve it: find `number` in 0..difficulty with SHA-256(salt + number) = challenge. It is an
 * ALTCHA (v1) challenge, so the ALTCHA widget solves it as is (it reads `maxnumber`).
 */
export interface PowChallenge {
  readonly type: 'pow';
  readonly algorithm: 'SHA-256';
  /** Random, then the signed parameters: user, sale, issue time, expiry. */
  readonly salt: string;
  readonly difficulty: number;
  readonly maxnumber: number;
  readonly challenge: string;
  /** HMAC of `challenge`: the server needs to remember nothing between issue and answer. */
  readonly signature: string;
  /** An answer sent sooner than this after the challenge was issued is refused: an honest client waits it out. */
  readonly minSolveMs: number;
}

/** What a client sends as `challengeAnswer`: base64 of this JSON (the ALTCHA payload), or the JSON itself. */
export interface PowAnswer {
  readonly algorithm: 'SHA-256';
  readonly challenge: string;
  readonly number: number;
  readonly salt: string;
  readonly signature: string;
}

export interface ProofOfWorkSettings {
  /** The largest secret number: a solver tries difficulty / 2 hashes on average. */
  readonly difficulty: number;
  /** An answer sooner than this after the challenge was issued is a script (seed 002's response-time signal). */
  readonly minSolveMs: number;
  /** How long a challenge can be answered; the purchase token's lifetime. */
  readonly ttlMs: number;
}

/** About 50,000 hashes on average: a fraction of a second in a browser, a real cost for a farm of scripts. */
export const DEFAULT_PROOF_OF_WORK: ProofOfWorkSettings = { difficulty: 100_000, minSolveMs: 300, ttlMs: 120_000 };

export type ChallengeVerdict = Verdict<'CHALLENGE_FAILED'>;

export interface ProofOfWorkOptions {
  /** Uniform in [0, 1); picks the secret number and the salt. Defaults to node:crypto. */
  readonly random?: () => number;
}

const cryptoRandom = (): number => randomInt(0, 2 ** 47) / 2 ** 47;

const failed = (reason: string): ChallengeVerdict => ({ ok: false, code: 'CHALLENGE_FAILED', reason });

/**
 * A proof-of-work challenge bound to one user and one sale (both inside the signed salt), with a floor on how
 * fast it may be answered. Stateless: everything needed to check an answer travels in it, signed.
 */
export class ProofOfWork {
  readonly settings: ProofOfWorkSettings;
  private readonly random: () => number;

  constructor(
    private readonly hmacKey: string,
    settings: Partial<ProofOfWorkSettings> = {},
    options: ProofOfWorkOptions = {},
  ) {
    if (hmacKey.length === 0) throw new RangeError('the challenge key must not be empty');
    this.settings = { ...DEFAULT_PROOF_OF_WORK, ...settings };
    if (!Number.isSafeInteger(this.settings.difficulty) || this.settings.difficulty < 1) throw new RangeError('difficulty is a positive integer');
    this.random = options.random ?? cryptoRandom;
  }

  async issue(userId: string, saleId: string, now: number): Promise<PowChallenge> {
    const { difficulty, ttlMs } = this.settings;
    const created = await altcha.createChallenge({
      hmacKey: this.hmacKey,
      algorithm: 'SHA-256',
      maxnumber: difficulty,
      number: Math.floor(this.random() * (difficulty + 1)),
      salt: this.saltPrefix(),
      params: { user: userId, sale: saleId, issued: String(now) },
      expires: new Date(now + ttlMs),
    });
    return {
      type: 'pow',
      algorithm: 'SHA-256',
      salt: created.salt,
      difficulty,
      maxnumber: difficulty,
      challenge: created.challenge,
      signature: created.signature,
      minSolveMs: this.settings.minSolveMs,
    };
  }

  /**
   * `answeredAt`: when the answer reached the server (the request's arrival), for the minimum solve time. A server that
   * gets to a request late (its own queue, a busy event loop, a slow store read) must not count that time as the
   * client's: a script answering at once would look like a person under exactly the load a sale brings. Defaults to
   * `now`, which is used for the expiry.
   */
  async verify(answer: string | undefined, userId: string, saleId: string, now: number, answeredAt: number = now): Promise<ChallengeVerdict> {
    if (answer === undefined || answer === '') return failed('this sale needs challengeAnswer: the solved proof-of-work challenge');
    const payload = decodeAnswer(answer);
    if (!payload) return failed('challengeAnswer is not a proof-of-work answer');
    // Expiry is checked below against the injected clock, not altcha's own Date.now().
    if (!(await altcha.verifySolution(payload, this.hmacKey, false))) return failed('the challenge answer is wrong');
    const params = altcha.extractParams(payload);
    if (params.user !== userId || params.sale !== saleId) return failed('the challenge was issued for another user or sale');
    const issued = Number(params.issued);
    const expiresAt = Number(params.expires) * 1000;
    if (!Number.isSafeInteger(issued) || !Number.isSafeInteger(expiresAt)) return failed('the challenge carries no issue time');
    if (now >= expiresAt) return failed('the challenge has expired, ask for access again');
    if (Math.min(now, answeredAt) - issued < this.settings.minSolveMs) return failed('the challenge was answered faster than a person can');
    return ADMITTED;
  }

  private saltPrefix(): string {
    let salt = '';
    for (let i = 0; i < 3; i++) salt += Math.floor(this.random() * 2 ** 32).toString(16).padStart(8, '0');
    return salt;
  }
}

const HEX_64 = /^[0-9a-f]{64}$/;

/** Base64 (the ALTCHA widget's form) or plain JSON, of exactly the answer's fields with the right types. */
const decodeAnswer = (answer: string): PowAnswer | undefined => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer.trimStart().startsWith('{') ? answer : Buffer.from(answer, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const { algorithm, challenge, number, salt, signature } = parsed as Record<string, unknown>;
  if (algorithm !== 'SHA-256') return undefined;
  if (typeof challenge !== 'string' || !HEX_64.test(challenge) || typeof signature !== 'string' || !HEX_64.test(signature)) return undefined;
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 0) return undefined;
  if (typeof salt !== 'string' || salt.length > 1024) return undefined;
  return { algorithm, challenge, number, salt, signature };
};
