import { EligibilityGate, GateSnapshot } from '../src';

const T0 = 1_800_000_000_000;

export const snapshot = (overrides: Partial<GateSnapshot> = {}): GateSnapshot => ({
  saleId: `sale-${Math.random().toString(36).slice(2)}`,
  startsAt: T0,
  endsAt: T0 + 3_600_000,
  perUserLimit: 2,
  available: [3, 3],
  holds: [],
  ...overrides,
});

const admitOf = (saleId: string, userId: string, reservationId: string, quantity = 1, now = T0 + 1, startShard = 0) => ({
  saleId,
  userId,
  reservationId,
  quantity,
  now,
  startShard,
  takeStock: true,
});

/** One contract for every gate adapter (in-process, Redis): the same answers to the same questions. */
export function gateContract(name: string, open: () => Promise<EligibilityGate>): void {
  describe(`eligibility gate contract: ${name}`, () => {
    let gate: EligibilityGate;
    beforeEach(async () => {
      gate = await open();
    });
    afterEach(async () => {
      await gate.close();
    });

    it('knows nothing about a sale until it is loaded', async () => {
      expect(await gate.admit(admitOf('never-loaded', 'u1', 'r1'))).toEqual({ kind: 'not-loaded' });
      expect(await gate.inspect('never-loaded')).toBeUndefined();
    });

    it('admits on the first shard from startShard that has the quantity, and counts it against stock and buyer', async () => {
      const s = snapshot({ available: [0, 1, 5] });
      await gate.load(s);
      expect(await gate.admit(admitOf(s.saleId, 'u1', 'r1', 2, T0 + 1, 1))).toEqual({ kind: 'admitted', shard: 2 });
      expect(await gate.admit(admitOf(s.saleId, 'u2', 'r2', 1, T0 + 1, 1))).toEqual({ kind: 'admitted', shard: 1 });
      expect(await gate.inspect(s.saleId)).toEqual({ available: [0, 0, 3], users: { u1: 2, u2: 1 }, holds: 2 });
    });

    it('refuses before the start and from the end', async () => {
      const s = snapshot();
      await gate.load(s);
      expect(await gate.admit(admitOf(s.saleId, 'u1', 'r1', 1, T0 - 1))).toEqual({ kind: 'refused', code: 'SALE_NOT_STARTED' });
      expect(await gate.admit(admitOf(s.saleId, 'u1', 'r2', 1, s.endsAt))).toEqual({ kind: 'refused', code: 'SALE_ENDED' });
    });

    it('refuses a buyer over the per-user limit', async () => {
      const s = snapshot({ perUserLimit: 2 });
      await gate.load(s);
      expect((await gate.admit(admitOf(s.saleId, 'u1', 'r1', 2))).kind).toBe('admitted');
      expect(await gate.admit(admitOf(s.saleId, 'u1', 'r2', 1))).toEqual({ kind: 'refused', code: 'LIMIT_EXCEEDED' });
    });

    it('says SOLD_OUT when no shard can serve the quantity', async () => {
      const s = snapshot({ available: [1, 1], perUserLimit: 5 });
      await gate.load(s);
      expect(await gate.admit(admitOf(s.saleId, 'u1', 'r1', 2))).toEqual({ kind: 'refused', code: 'SOLD_OUT' });
      expect((await gate.admit(admitOf(s.saleId, 'u1', 'r2', 1))).kind).toBe('admitted');
      expect((await gate.admit(admitOf(s.saleId, 'u2', 'r3', 1))).kind).toBe('admitted');
      expect(await gate.admit(admitOf(s.saleId, 'u3', 'r4', 1))).toEqual({ kind: 'refused', code: 'SOLD_OUT' });
    });

    it('has no second effect when the same reservation is admitted again', async () => {
      const s = snapshot();
      await gate.load(s);
      const first = await gate.admit(admitOf(s.saleId, 'u1', 'r1'));
      const state = await gate.inspect(s.saleId);
      expect(await gate.admit(admitOf(s.saleId, 'u1', 'r1'))).toEqual({ kind: 'known', shard: (first as { shard: number }).shard });
      expect(await gate.inspect(s.saleId)).toEqual(state);
    });

    it('answers KNOWN with the shard of the first admission, whichever shard that was', async () => {
      const available = Array.from({ length: 12 }, (_, shard) => (shard === 11 || shard === 3 ? 5 : 0));
      const s = snapshot({ available, perUserLimit: 5, holds: [{ reservationId: 'h10', userId: 'u9', shard: 10, quantity: 1, stockTaken: true }] });
      await gate.load(s);
      expect(await gate.admit(admitOf(s.saleId, 'u1', 'r1', 2, T0 + 1, 4))).toEqual({ kind: 'admitted', shard: 11 });
      expect(await gate.admit(admitOf(s.saleId, 'u2', 'r2', 1, T0 + 1, 0))).toEqual({ kind: 'admitted', shard: 3 });
      expect(await gate.admit(admitOf(s.saleId, 'u1', 'r1', 2, T0 + 1, 4))).toEqual({ kind: 'known', shard: 11 });
      expect(await gate.admit(admitOf(s.saleId, 'u2', 'r2', 1, T0 + 1, 0))).toEqual({ kind: 'known', shard: 3 });
      expect(await gate.admit(admitOf(s.saleId, 'u9', 'h10', 1, T0 + 1, 0))).toEqual({ kind: 'known', shard: 10 });
      expect(await gate.inspect(s.saleId)).toEqual({ available: available.map((n, shard) => (shard === 11 ? 3 : shard === 3 ? 4 : n)), users: { u1: 2, u2: 1, u9: 1 }, holds: 3 });
      // A reservation admitted before answers KNOWN even once the sale is closed or sold out.
      expect(await gate.admit(admitOf(s.saleId, 'u1', 'r1', 2, s.endsAt))).toEqual({ kind: 'known', shard: 11 });
    });

    it('takes multi-unit quantities from stock and gives them back whole', async () => {
      const s = snapshot({ available: [7, 0], perUserLimit: 10 });
      await gate.load(s);
      expect(await gate.admit(admitOf(s.saleId, 'u1', 'r1', 4, T0 + 1, 1))).toEqual({ kind: 'admitted', shard: 0 });
      expect(await gate.admit(admitOf(s.saleId, 'u1', 'r2', 4, T0 + 1, 0))).toEqual({ kind: 'refused', code: 'SOLD_OUT' });
      expect(await gate.inspect(s.saleId)).toEqual({ available: [3, 0], users: { u1: 4 }, holds: 1 });
      await gate.release(s.saleId, 'r1');
      expect(await gate.inspect(s.saleId)).toEqual({ available: [7, 0], users: {}, holds: 0 });
    });

    it('gives a hold back once, however often it is released', async () => {
      const s = snapshot({ available: [1, 0] });
      await gate.load(s);
      await gate.admit(admitOf(s.saleId, 'u1', 'r1'));
      await gate.release(s.saleId, 'r1');
      await gate.release(s.saleId, 'r1');
      await gate.release(s.saleId, 'unknown');
      expect(await gate.inspect(s.saleId)).toEqual({ available: [1, 0], users: {}, holds: 0 });
    });

    it('lowers a shard to the store truth but never raises it', async () => {
      const s = snapshot({ available: [5, 5] });
      await gate.load(s);
      await gate.correct(s.saleId, 0, 2);
      await gate.correct(s.saleId, 1, 9);
      expect((await gate.inspect(s.saleId))?.available).toEqual([2, 5]);
    });

    it('counts the holds of a snapshot against their buyers, and a reload replaces everything', async () => {
      const s = snapshot({ perUserLimit: 1, holds: [{ reservationId: 'h1', userId: 'u1', shard: 0, quantity: 1, stockTaken: true }] });
      await gate.load(s);
      expect(await gate.admit(admitOf(s.saleId, 'u1', 'r2'))).toEqual({ kind: 'refused', code: 'LIMIT_EXCEEDED' });
      expect(await gate.admit(admitOf(s.saleId, 'u1', 'h1'))).toEqual({ kind: 'known', shard: 0 });
      await gate.load({ ...s, holds: [], available: [1, 0] });
      expect(await gate.inspect(s.saleId)).toEqual({ available: [1, 0], users: {}, holds: 0 });
    });

    it('without taking stock (on-payment) counts the buyer but leaves the shard, and gives no stock back on release', async () => {
      const s = snapshot({ available: [1, 0], perUserLimit: 1 });
      await gate.load(s);
      const request = { ...admitOf(s.saleId, 'u1', 'r1'), takeStock: false };
      expect(await gate.admit(request)).toEqual({ kind: 'admitted', shard: 0 });
      expect(await gate.admit({ ...admitOf(s.saleId, 'u2', 'r2'), takeStock: false })).toEqual({ kind: 'admitted', shard: 0 });
      expect(await gate.inspect(s.saleId)).toEqual({ available: [1, 0], users: { u1: 1, u2: 1 }, holds: 2 });
      expect(await gate.admit({ ...admitOf(s.saleId, 'u1', 'r3'), takeStock: false })).toEqual({ kind: 'refused', code: 'LIMIT_EXCEEDED' });
      await gate.release(s.saleId, 'r1');
      expect(await gate.inspect(s.saleId)).toEqual({ available: [1, 0], users: { u2: 1 }, holds: 1 });
    });

    it('decides the admits called in one turn in call order, each answered on its own', async () => {
      const s = snapshot({ available: [2, 1], perUserLimit: 2 });
      await gate.load(s);
      // No await between the calls: a batching adapter sends them together; the answers must be those of one by one.
      const verdicts = await Promise.all([
        gate.admit(admitOf(s.saleId, 'u1', 'r1')),
        gate.admit(admitOf(s.saleId, 'u1', 'r1')),
        gate.admit(admitOf(s.saleId, 'u1', 'r2')),
        gate.admit(admitOf(s.saleId, 'u1', 'r3')),
        gate.admit(admitOf(s.saleId, 'u2', 'r4', 2)),
        gate.admit(admitOf(s.saleId, 'u2', 'r5')),
        gate.admit({ ...admitOf(s.saleId, 'u3', 'r6'), takeStock: false }),
        gate.admit(admitOf(s.saleId, 'u4', 'r7', 1, T0 - 1)),
        gate.admit(admitOf(s.saleId, 'u1', 'r2', 1, s.endsAt)),
        gate.admit(admitOf(s.saleId, 'u4', 'r8')),
      ]);
      expect(verdicts).toEqual([
        { kind: 'admitted', shard: 0 },
        { kind: 'known', shard: 0 },
        { kind: 'admitted', shard: 0 },
        { kind: 'refused', code: 'LIMIT_EXCEEDED' },
        { kind: 'refused', code: 'SOLD_OUT' },
        { kind: 'admitted', shard: 1 },
        { kind: 'refused', code: 'SOLD_OUT' },
        { kind: 'refused', code: 'SALE_NOT_STARTED' },
        { kind: 'known', shard: 0 },
        { kind: 'refused', code: 'SOLD_OUT' },
      ]);
      expect(await gate.inspect(s.saleId)).toEqual({ available: [0, 0], users: { u1: 2, u2: 1 }, holds: 3 });
    });

    it('decides each sale of a turn that mixes sales on its own', async () => {
      const a = snapshot({ available: [1], perUserLimit: 1 });
      const b = snapshot({ available: [0, 2], perUserLimit: 1 });
      await gate.load(a);
      await gate.load(b);
      const verdicts = await Promise.all([
        gate.admit(admitOf(a.saleId, 'u1', 'r1')),
        gate.admit(admitOf(b.saleId, 'u1', 'r1')),
        gate.admit(admitOf('never-loaded', 'u1', 'r1')),
        gate.admit(admitOf(a.saleId, 'u2', 'r2')),
        gate.admit(admitOf(b.saleId, 'u2', 'r2')),
        gate.admit(admitOf(b.saleId, 'u1', 'r3')),
        gate.admit(admitOf(a.saleId, 'u1', 'r1')),
      ]);
      expect(verdicts).toEqual([
        { kind: 'admitted', shard: 0 },
        { kind: 'admitted', shard: 1 },
        { kind: 'not-loaded' },
        { kind: 'refused', code: 'SOLD_OUT' },
        { kind: 'admitted', shard: 1 },
        { kind: 'refused', code: 'LIMIT_EXCEEDED' },
        { kind: 'known', shard: 0 },
      ]);
      expect(await gate.inspect(a.saleId)).toEqual({ available: [0], users: { u1: 1 }, holds: 1 });
      expect(await gate.inspect(b.saleId)).toEqual({ available: [0, 0], users: { u1: 1, u2: 1 }, holds: 2 });
    });

    it('decides an admit before a release called after it in the same turn', async () => {
      const s = snapshot({ available: [1, 0] });
      await gate.load(s);
      const [verdict] = await Promise.all([gate.admit(admitOf(s.saleId, 'u1', 'r1')), gate.release(s.saleId, 'r1')]);
      expect(verdict).toEqual({ kind: 'admitted', shard: 0 });
      expect(await gate.inspect(s.saleId)).toEqual({ available: [1, 0], users: {}, holds: 0 });
    });

    it('admits exactly the stock under 1,000 concurrent attempts', async () => {
      const s = snapshot({ available: [50, 50, 50, 50], perUserLimit: 1 });
      await gate.load(s);
      const verdicts = await Promise.all(Array.from({ length: 1000 }, (_, i) => gate.admit(admitOf(s.saleId, `u${i % 400}`, `r${i}`, 1, T0 + 1, i % 4))));
      expect(verdicts.filter((v) => v.kind === 'admitted')).toHaveLength(200);
      const state = await gate.inspect(s.saleId);
      expect(state?.available).toEqual([0, 0, 0, 0]);
      expect(Object.values(state?.users ?? {}).every((q) => q === 1)).toBe(true);
      expect(state?.holds).toBe(200);
    });
  });
}
