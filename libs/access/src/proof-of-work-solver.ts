import { createHash } from 'node:crypto';
import type { PowAnswer, PowChallenge } from './proof-of-work';

/**
 * What the sale page's script does with a challenge (and what the simulator and tests do for it): brute force the
 * number whose SHA-256 with the salt is the challenge, then send the ALTCHA payload as `challengeAnswer`.
 */
export const solvePowNumber = (challenge: Pick<PowChallenge, 'salt' | 'difficulty' | 'challenge'>): number => {
  for (let number = 0; number <= challenge.difficulty; number++) {
    if (createHash('sha256').update(challenge.salt + String(number)).digest('hex') === challenge.challenge) return number;
  }
  throw new Error(`no number in 0..${String(challenge.difficulty)} solves the challenge`);
};

/** The ALTCHA payload form: base64 of the answer's JSON. */
export const encodePowAnswer = (answer: Omit<PowAnswer, 'algorithm'> & { algorithm: string }): string =>
  Buffer.from(
    JSON.stringify({ algorithm: answer.algorithm, challenge: answer.challenge, number: answer.number, salt: answer.salt, signature: answer.signature }),
  ).toString('base64');

export const solvePow = (challenge: Pick<PowChallenge, 'algorithm' | 'salt' | 'difficulty' | 'challenge' | 'signature'>): string =>
  encodePowAnswer({ ...challenge, number: solvePowNumber(challenge) });
