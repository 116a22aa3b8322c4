import { Admission, AdmissionQueue, JoinRequest } from '../src/waiting-room';

const T0 = 1_800_000_000_000;
const TTL = 30_000;
const DAY = 86_400_000;

export const joinOf = (saleId: string, userId: string, now = T0, overrides: Partial<JoinRequest> = {}): JoinRequest => ({
  saleId,
  userId,
  ipKey: `ip-${userId}`,
  now,
  admittedTtlMs: TTL,
  maxTicketsPerIp: 0,
  retainMs: DAY,
  ...overrides,
});

const newSale = (): string => `sale-${Math.random().toString(36).slice(2)}`;

/** Fisher–Yates with a seeded generator, so a failure can be replayed. */
export const shuffled = <T>(items: readonly T[], seed: number): T[] => {
  const out = [...items];
  let s = seed;
  const random = (): number => ((s = (s * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
};

/** Runs pumps on a simulated clock: `pumps` callers take turns every `tickMs` until the line is empty. */
export const drain = async (queues: readonly AdmissionQueue[], saleId: string, start: number, intervalMs: number, tickMs: number): Promise<Admission[]> => {
  const admitted: Admission[] = [];
  for (let now = start, turn = 0; (await (queues[0] as AdmissionQueue).length(saleId)) > 0; now += tickMs, turn++) {
    admitted.push(...(await (queues[turn % queues.length] as AdmissionQueue).admit({ saleId, now, intervalMs, maxCatchUpMs: 500 })));
    if (now - start > DAY) throw new Error('the line never drained');
  }
  return admitted;
};

/** The checks of issue #26's first "must show", on admissions with their server-side timestamps. */
export const expectFairAdmission = (admitted: readonly Admission[], users: number, admitPerSecond: number): void => {
  expect(new Set(admitted.map((a) => a.userId)).size).toBe(admitted.length); // none twice
  expect(admitted).toHaveLength(users);
  const seqs = admitted.map((a) => a.seq);
  expect(seqs).toEqual([...seqs].sort((a, b) => a - b)); // strictly in ticket order
  const first = (admitted[0] as Admission).admittedAt;
  const last = (admitted[admitted.length - 1] as Admission).admittedAt;
  const rate = ((admitted.length - 1) * 1000) / (last - first);
  expect(Math.abs(rate - admitPerSecond) / admitPerSecond).toBeLessThan(0.1);
};

/** One contract for every admission-queue adapter (in-process, Redis). */
export function admissionQueueContract(name: string, open: () => Promise<AdmissionQueue>): void {
  describe(`admission queue contract: ${name}`, () => {
    let queue: AdmissionQueue;
    beforeEach(async () => {
      queue = await open();
    });
    afterEach(async () => {
      await queue.close();
    });

    it('gives tickets in arrival order with the live position, and the same ticket to a user who asks again', async () => {
      const sale = newSale();
      expect(await queue.join(joinOf(sale, 'u1'))).toEqual({ kind: 'waiting', seq: 1, joinedAt: T0, position: 1 });
      expect(await queue.join(joinOf(sale, 'u2', T0 + 5))).toEqual({ kind: 'waiting', seq: 2, joinedAt: T0 + 5, position: 2 });
      expect(await queue.join(joinOf(sale, 'u1', T0 + 9))).toEqual({ kind: 'waiting', seq: 1, joinedAt: T0, position: 1 });
      expect(await queue.length(sale)).toBe(2);
    });

    it('admits the first at once, then one per interval: no initial burst however many wait', async () => {
      const sale = newSale();
      for (let i = 0; i < 100; i++) await queue.join(joinOf(sale, `u${i}`));
      const first = await queue.admit({ saleId: sale, now: T0, intervalMs: 10, maxCatchUpMs: 500 });
      expect(first.map((a) => a.userId)).toEqual(['u0']);
      const next = await queue.admit({ saleId: sale, now: T0 + 45, intervalMs: 10, maxCatchUpMs: 500 });
      expect(next.map((a) => a.userId)).toEqual(['u1', 'u2', 'u3', 'u4']);
      expect(next.every((a) => a.admittedAt === T0 + 45)).toBe(true);
      expect(await queue.place(sale, 'u5', 6, T0 + 45, TTL)).toEqual({ kind: 'waiting', seq: 6, joinedAt: T0, position: 1 });
      expect(await queue.place(sale, 'u99', 100, T0 + 45, TTL)).toMatchObject({ position: 95 });
    });

    it('builds no credit while the line is empty', async () => {
      const sale = newSale();
      await queue.join(joinOf(sale, 'early'));
      expect(await queue.admit({ saleId: sale, now: T0, intervalMs: 10, maxCatchUpMs: 500 })).toHaveLength(1);
      expect(await queue.admit({ saleId: sale, now: T0 + 400, intervalMs: 10, maxCatchUpMs: 500 })).toEqual([]);
      for (let i = 0; i < 50; i++) await queue.join(joinOf(sale, `late${i}`, T0 + 400));
      expect(await queue.admit({ saleId: sale, now: T0 + 400, intervalMs: 10, maxCatchUpMs: 500 })).toHaveLength(1);
    });

    it('catches up a late pump by at most maxCatchUpMs of admissions', async () => {
      const sale = newSale();
      for (let i = 0; i < 200; i++) await queue.join(joinOf(sale, `u${i}`));
      expect(await queue.admit({ saleId: sale, now: T0, intervalMs: 10, maxCatchUpMs: 100 })).toHaveLength(1);
      // Two seconds without a pump: 200 turns were missed, only 100 ms of them (10 + the current one) are made up.
      expect(await queue.admit({ saleId: sale, now: T0 + 2000, intervalMs: 10, maxCatchUpMs: 100 })).toHaveLength(11);
    });

    it('keeps an admitted user admitted for the slot time, then lets them join again at the back', async () => {
      const sale = newSale();
      await queue.join(joinOf(sale, 'u1'));
      await queue.join(joinOf(sale, 'u2'));
      await queue.admit({ saleId: sale, now: T0 + 1, intervalMs: 1000, maxCatchUpMs: 0 });
      expect(await queue.place(sale, 'u1', 1, T0 + 2, TTL)).toEqual({ kind: 'admitted', seq: 1, joinedAt: T0, admittedAt: T0 + 1 });
      expect(await queue.join(joinOf(sale, 'u1', T0 + 3))).toEqual({ kind: 'admitted', seq: 1, joinedAt: T0, admittedAt: T0 + 1 });
      expect(await queue.place(sale, 'u1', 1, T0 + 1 + TTL, TTL)).toEqual({ kind: 'none' });
      expect(await queue.join(joinOf(sale, 'u1', T0 + 1 + TTL))).toEqual({ kind: 'waiting', seq: 3, joinedAt: T0 + 1 + TTL, position: 2 });
      expect(await queue.place(sale, 'u1', 1, T0 + 1 + TTL, TTL)).toEqual({ kind: 'none' });
    });

    it('knows no ticket under another number, another user or another sale', async () => {
      const sale = newSale();
      await queue.join(joinOf(sale, 'u1'));
      expect(await queue.place(sale, 'u1', 2, T0, TTL)).toEqual({ kind: 'none' });
      expect(await queue.place(sale, 'u2', 1, T0, TTL)).toEqual({ kind: 'none' });
      expect(await queue.place(newSale(), 'u1', 1, T0, TTL)).toEqual({ kind: 'none' });
    });

    it('limits new tickets per address, not a user asking again', async () => {
      const sale = newSale();
      const fromFarm = (userId: string) => joinOf(sale, userId, T0, { ipKey: 'farm', maxTicketsPerIp: 2 });
      expect((await queue.join(fromFarm('b1'))).kind).toBe('waiting');
      expect((await queue.join(fromFarm('b2'))).kind).toBe('waiting');
      expect((await queue.join(fromFarm('b1'))).kind).toBe('waiting');
      expect(await queue.join(fromFarm('b3'))).toEqual({ kind: 'ip-limited' });
      expect((await queue.join(joinOf(sale, 'b4', T0, { ipKey: 'home', maxTicketsPerIp: 2 }))).kind).toBe('waiting');
      // The farm's refusals count against the tickets it holds, not against the household's, nor another sale's.
      expect(await queue.join(fromFarm('b5'))).toEqual({ kind: 'ip-limited' });
      expect([await queue.turnedAwayAtJoinAddress(sale, 'b1'), await queue.turnedAwayAtJoinAddress(sale, 'b2')]).toEqual([2, 2]);
      expect(await queue.turnedAwayAtJoinAddress(sale, 'b4')).toBe(0);
      expect(await queue.turnedAwayAtJoinAddress(sale, 'b3')).toBe(0);
      expect(await queue.turnedAwayAtJoinAddress(newSale(), 'b1')).toBe(0);
    });

    it('admits 2,000 users who joined in random order strictly in ticket order, each once, at the pace set', async () => {
      const sale = newSale();
      const users = shuffled(Array.from({ length: 2000 }, (_, i) => `user-${i}`), 7);
      // Within one second, in random order.
      for (const [i, user] of users.entries()) await queue.join(joinOf(sale, user, T0 + Math.floor(i / 2)));
      const admitted = await drain([queue], sale, T0, 1000 / 200, 20);
      expectFairAdmission(admitted, 2000, 200);
      expect(admitted.map((a) => a.userId)).toEqual(users);
    });
  });
}
