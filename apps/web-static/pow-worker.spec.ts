import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { ProofOfWork } from '@flash/access';
import { encodePowAnswer, solvePowNumber } from '../../libs/access/test/solve-pow';

/** Runs the page's worker script as the browser would, with `self` standing for the worker's global scope. */
const loadWorker = (): ((message: { salt: string; challenge: string; max: number }) => number | null) => {
  const source = fs.readFileSync(path.join(__dirname, 'pow-worker.js'), 'utf8');
  const self: { onmessage?: (event: { data: unknown }) => void; postMessage: (answer: { number: number | null }) => void } = {
    postMessage: () => undefined,
  };
  vm.runInNewContext(source, { self, TextEncoder });
  return (message) => {
    let answer: number | null | undefined;
    self.postMessage = (posted) => (answer = posted.number);
    self.onmessage!({ data: message });
    if (answer === undefined) throw new Error('the worker posted nothing');
    return answer;
  };
};

const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('the sale page proof-of-work worker', () => {
  const solve = loadWorker();

  it('finds the number for salts of every length around the SHA-256 block and padding boundaries', () => {
    for (let length = 0; length <= 140; length++) {
      const salt = 'abcdefghij?user=x&'.repeat(8).slice(0, length);
      const secret = (length * 37) % 1200; // one, two, three and four digits
      expect(solve({ salt, challenge: sha256Hex(salt + String(secret)), max: 1200 })).toBe(secret);
    }
  });

  it('hashes the salt as UTF-8, as the server does', () => {
    const salt = 'sale=ünïcode✓&user=b';
    expect(solve({ salt, challenge: sha256Hex(`${salt}42`), max: 100 })).toBe(42);
  });

  it('answers null when no number in range solves the challenge', () => {
    expect(solve({ salt: 'abc', challenge: sha256Hex('abc101'), max: 100 })).toBeNull();
  });

  it("solves the server's own challenge, and the server accepts the answer", async () => {
    const pow = new ProofOfWork('page-test-key', { difficulty: 50_000, minSolveMs: 0, ttlMs: 60_000 });
    const now = Date.now();
    const challenge = await pow.issue('buyer-7', 'sale-7', now);
    const number = solve({ salt: challenge.salt, challenge: challenge.challenge, max: challenge.maxnumber });
    expect(number).toBe(solvePowNumber(challenge));
    expect(await pow.verify(encodePowAnswer({ ...challenge, number: number! }), 'buyer-7', 'sale-7', now + 1)).toEqual({ ok: true });
  });
});
