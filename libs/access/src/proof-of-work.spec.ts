import { encodePowAnswer, solvePow, solvePowNumber } from '../test/solve-pow';
import { ProofOfWork } from './proof-of-work';

const NOW = 1_900_000_000_000;
const KEY = 'test-challenge-key';

const pow = (settings: Partial<ProofOfWork['settings']> = {}, random: () => number = () => 0.37) =>
  new ProofOfWork(KEY, { difficulty: 1000, minSolveMs: 300, ttlMs: 120_000, ...settings }, { random });

describe('ProofOfWork', () => {
  it('issues a signed challenge with the documented shape', async () => {
    const challenge = await pow().issue('buyer-1', 'sale-a', NOW);
    expect(challenge).toEqual({
      type: 'pow',
      algorithm: 'SHA-256',
      salt: expect.stringMatching(/^[0-9a-f]{24}\?/),
      difficulty: 1000,
      maxnumber: 1000,
      challenge: expect.stringMatching(/^[0-9a-f]{64}$/),
      signature: expect.stringMatching(/^[0-9a-f]{64}$/),
      minSolveMs: 300,
    });
    expect(solvePowNumber(challenge)).toBe(370); // the secret number comes from the injected randomness
  });

  it('binds the challenge to the user and the sale inside the salt', async () => {
    const { salt } = await pow().issue('buyer:1', 'sale-a', NOW);
    const params = new URLSearchParams(salt.slice(salt.indexOf('?') + 1));
    expect(params.get('user')).toBe('buyer:1');
    expect(params.get('sale')).toBe('sale-a');
    expect(params.get('issued')).toBe(String(NOW));
  });

  it('accepts a correct answer from the same user for the same sale after the minimum solve time', async () => {
    const p = pow();
    const answer = solvePow(await p.issue('buyer-1', 'sale-a', NOW));
    expect(await p.verify(answer, 'buyer-1', 'sale-a', NOW + 300)).toEqual({ ok: true });
  });

  it('accepts the answer as plain JSON too', async () => {
    const p = pow();
    const answer = Buffer.from(solvePow(await p.issue('buyer-1', 'sale-a', NOW)), 'base64').toString('utf8');
    expect(await p.verify(answer, 'buyer-1', 'sale-a', NOW + 1000)).toEqual({ ok: true });
  });

  it('refuses a correct answer that came faster than a person can solve it', async () => {
    const p = pow();
    const answer = solvePow(await p.issue('buyer-1', 'sale-a', NOW));
    expect(await p.verify(answer, 'buyer-1', 'sale-a', NOW + 299)).toEqual({
      ok: false,
      code: 'CHALLENGE_FAILED',
      reason: expect.stringContaining('faster than a person'),
    });
  });

  it("measures the solve time to the answer's arrival, not to when a busy server got to it", async () => {
    const p = pow();
    const answer = solvePow(await p.issue('buyer-1', 'sale-a', NOW));
    // Arrived 50 ms after the issue, looked at 2 s later (a queue in front of the handler): still a script's speed.
    expect(await p.verify(answer, 'buyer-1', 'sale-a', NOW + 2000, NOW + 50)).toMatchObject({ ok: false, reason: expect.stringContaining('faster than a person') });
    expect(await p.verify(answer, 'buyer-1', 'sale-a', NOW + 2000, NOW + 300)).toEqual({ ok: true });
  });

  it('refuses a wrong number', async () => {
    const p = pow();
    const challenge = await p.issue('buyer-1', 'sale-a', NOW);
    const wrong = encodePowAnswer({ ...challenge, number: (solvePowNumber(challenge) + 1) % 1001 });
    expect(await p.verify(wrong, 'buyer-1', 'sale-a', NOW + 1000)).toMatchObject({ ok: false, code: 'CHALLENGE_FAILED', reason: expect.stringContaining('wrong') });
  });

  it('refuses an answer to a challenge issued for another user or another sale', async () => {
    const p = pow();
    const answer = solvePow(await p.issue('buyer-1', 'sale-a', NOW));
    expect(await p.verify(answer, 'buyer-2', 'sale-a', NOW + 1000)).toMatchObject({ ok: false, reason: expect.stringContaining('another user') });
    expect(await p.verify(answer, 'buyer-1', 'sale-b', NOW + 1000)).toMatchObject({ ok: false, reason: expect.stringContaining('another user') });
  });

  it('refuses a salt rewritten to another user, since the signed challenge covers it', async () => {
    const p = pow();
    const challenge = await p.issue('buyer-1', 'sale-a', NOW);
    const salt = challenge.salt.replace('user=buyer-1', 'user=buyer-2');
    const answer = encodePowAnswer({ ...challenge, salt, number: solvePowNumber(challenge) });
    expect(await p.verify(answer, 'buyer-2', 'sale-a', NOW + 1000)).toMatchObject({ ok: false, reason: expect.stringContaining('wrong') });
  });

  it('refuses a challenge signed with another key', async () => {
    const answer = solvePow(await new ProofOfWork('another-key', { difficulty: 1000 }).issue('buyer-1', 'sale-a', NOW));
    expect(await pow().verify(answer, 'buyer-1', 'sale-a', NOW + 1000)).toMatchObject({ ok: false, reason: expect.stringContaining('wrong') });
  });

  it('refuses an answer once the challenge has expired', async () => {
    const p = pow({ ttlMs: 5000 });
    const answer = solvePow(await p.issue('buyer-1', 'sale-a', NOW));
    expect(await p.verify(answer, 'buyer-1', 'sale-a', NOW + 4999)).toEqual({ ok: true });
    expect(await p.verify(answer, 'buyer-1', 'sale-a', NOW + 5000)).toMatchObject({ ok: false, reason: expect.stringContaining('expired') });
  });

  it('refuses a missing answer and anything that is not an answer', async () => {
    const p = pow();
    const challenge = await p.issue('buyer-1', 'sale-a', NOW);
    const number = solvePowNumber(challenge);
    const malformed = [
      'not base64 at all!',
      Buffer.from('[1,2]').toString('base64'),
      Buffer.from('null').toString('base64'),
      encodePowAnswer({ ...challenge, algorithm: 'SHA-1', number }),
      JSON.stringify({ ...challenge, number: String(number) }),
      JSON.stringify({ ...challenge, number: -1 }),
      JSON.stringify({ ...challenge, number, signature: 'zz' }),
      JSON.stringify({ algorithm: 'SHA-256', challenge: challenge.challenge, number, signature: challenge.signature }),
    ];
    expect(await p.verify(undefined, 'buyer-1', 'sale-a', NOW + 1000)).toMatchObject({ ok: false, reason: expect.stringContaining('needs challengeAnswer') });
    for (const answer of malformed) expect(await p.verify(answer, 'buyer-1', 'sale-a', NOW + 1000)).toMatchObject({ ok: false, code: 'CHALLENGE_FAILED' });
  });

  it('draws a different secret number for each challenge by default', async () => {
    const p = new ProofOfWork(KEY, { difficulty: 1_000_000 });
    const numbers = new Set<string>();
    for (let i = 0; i < 5; i++) numbers.add((await p.issue('buyer-1', 'sale-a', NOW)).challenge);
    expect(numbers.size).toBe(5);
  });

  it('refuses an empty key and a difficulty below 1', () => {
    expect(() => new ProofOfWork('')).toThrow(RangeError);
    expect(() => new ProofOfWork(KEY, { difficulty: 0 })).toThrow(RangeError);
  });
});
