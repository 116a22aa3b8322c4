import fc from 'fast-check';
import { PendingWork } from './pending-work';

const keys = (items: ReadonlyArray<{ key: string }>): string[] => items.map((i) => i.key);

describe('PendingWork', () => {
  describe('due', () => {
    it('returns only items whose deadline has come, earliest deadline first', () => {
      const work = new PendingWork<string>();
      work.add('late', 3, 3000, 'c');
      work.add('early', 1, 1000, 'a');
      work.add('future', 2, 9000, 'x');
      work.add('middle', 4, 2000, 'b');

      expect(keys(work.due(2999))).toEqual(['early', 'middle']);
      expect(keys(work.due(3000))).toEqual(['early', 'middle', 'late']);
      expect(work.due(999)).toEqual([]);
    });

    it('offers items with the same deadline in log order (a claim redone before a later one of the same instant)', () => {
      const work = new PendingWork<string>();
      for (const [key, position] of [['c', 30], ['a', 10], ['d', 40], ['b', 20]] as const) work.add(key, position, 1000, key);
      work.add('early', 50, 500, 'e');

      expect(keys(work.due(1000))).toEqual(['early', 'a', 'b', 'c', 'd']);
    });

    it('counts an item due exactly at its deadline', () => {
      const work = new PendingWork<string>();
      work.add('k', 1, 1000, 'p');

      expect(keys(work.due(1000))).toEqual(['k']);
    });

    it('keeps the first registration of a key: a redelivered event changes neither deadline nor payload', () => {
      const work = new PendingWork<string>();
      work.add('k', 5, 1000, 'first');
      work.add('k', 9, 50, 'second');

      expect(work.size).toBe(1);
      expect(work.due(999)).toEqual([]);
      expect(work.due(1000)).toMatchObject([{ key: 'k', position: 5, dueAt: 1000, payload: 'first', attempts: 0 }]);
    });

    it('forgets removed items, and removing an unknown key is harmless', () => {
      const work = new PendingWork<string>();
      work.add('a', 1, 0, 'a');
      work.remove('a');
      work.remove('never-added');

      expect(work.has('a')).toBe(false);
      expect(work.size).toBe(0);
      expect(work.due(Number.MAX_SAFE_INTEGER)).toEqual([]);
    });
  });

  describe('retryLater', () => {
    it('backs off exponentially from 500 ms and caps the wait at 30 s', () => {
      const work = new PendingWork<string>();
      work.add('k', 1, 0, 'p');
      const item = work.due(0)[0]!;
      const waits: number[] = [];
      for (let attempt = 1; attempt <= 9; attempt++) {
        work.retryLater(item, 10_000);
        waits.push(item.nextTryAt - 10_000);
      }

      expect(waits).toEqual([500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
      expect(item.attempts).toBe(9);
    });

    it('hides a retried item until its next try, then offers it again with its original deadline', () => {
      const work = new PendingWork<string>();
      work.add('retried', 1, 1000, 'r');
      work.add('other', 2, 1200, 'o');
      work.retryLater(work.due(1000)[0]!, 1000); // next try at 1500

      expect(keys(work.due(1499))).toEqual(['other']);
      expect(keys(work.due(1500))).toEqual(['retried', 'other']);
      expect(work.due(1500)[0]).toMatchObject({ dueAt: 1000, nextTryAt: 1500, attempts: 1 });
    });
  });

  describe('lowWater', () => {
    it('is undefined when nothing is pending', () => {
      expect(new PendingWork<string>().lowWater()).toBeUndefined();
    });

    it('is the smallest position any pending item came from, whatever the deadlines', () => {
      const work = new PendingWork<string>();
      work.add('b', 20, 100, 'b');
      work.add('a', 10, 5000, 'a');
      work.add('c', 30, 0, 'c');

      expect(work.lowWater()).toBe(10);
      work.remove('a');
      expect(work.lowWater()).toBe(20);
      work.remove('b');
      work.remove('c');
      expect(work.lowWater()).toBeUndefined();
    });

    it('does not move when an item is retried', () => {
      const work = new PendingWork<string>();
      work.add('a', 7, 0, 'a');
      work.retryLater(work.due(0)[0]!, 0);

      expect(work.lowWater()).toBe(7);
    });
  });

  describe('overdueMs', () => {
    it('is 0 when nothing is pending or nothing is past its deadline', () => {
      const work = new PendingWork<string>();
      expect(work.overdueMs(5000)).toBe(0);
      work.add('k', 1, 5000, 'p');
      expect(work.overdueMs(4000)).toBe(0);
      expect(work.overdueMs(5000)).toBe(0);
    });

    it('is how late the most overdue item is, counted from its deadline even while it waits for a retry', () => {
      const work = new PendingWork<string>();
      work.add('a', 1, 1000, 'a');
      work.add('b', 2, 4000, 'b');
      work.retryLater(work.due(1000)[0]!, 1000);

      expect(work.overdueMs(6000)).toBe(5000);
      work.remove('a');
      expect(work.overdueMs(6000)).toBe(2000);
    });
  });

  describe('against a model that scans every item', () => {
    type Op =
      | { kind: 'add'; key: number; step: number; dueAt: number }
      | { kind: 'remove'; key: number }
      | { kind: 'due'; advance: number; retryShare: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), key: fc.nat(30), step: fc.integer({ min: -3, max: 10 }), dueAt: fc.nat(5000) }),
      fc.record({ kind: fc.constant('remove' as const), key: fc.nat(30) }),
      fc.record({ kind: fc.constant('due' as const), advance: fc.integer({ min: -100, max: 2000 }), retryShare: fc.double({ min: 0, max: 1, noNaN: true }) }),
    );

    it('offers the same items, in the same order, with the same low-water mark, under any mix of operations', () => {
      fc.assert(
        fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
          const work = new PendingWork<number>();
          const model = new Map<string, { position: number; dueAt: number; nextTryAt: number }>();
          let position = 100;
          let now = 0;
          for (const o of ops) {
            if (o.kind === 'add') {
              position += o.step;
              const key = `k${o.key}`;
              work.add(key, position, o.dueAt, o.key);
              if (!model.has(key)) model.set(key, { position, dueAt: o.dueAt, nextTryAt: o.dueAt });
            } else if (o.kind === 'remove') {
              work.remove(`k${o.key}`);
              model.delete(`k${o.key}`);
            } else {
              now = Math.max(0, now + o.advance);
              const expected = [...model.entries()]
                .filter(([, m]) => m.dueAt <= now && m.nextTryAt <= now)
                .sort((a, b) => a[1].dueAt - b[1].dueAt || a[1].position - b[1].position)
                .map(([k]) => k);
              const due = work.due(now);
              expect(keys(due).map((k) => [model.get(k)?.dueAt, model.get(k)?.position])).toEqual(expected.map((k) => [model.get(k)?.dueAt, model.get(k)?.position]));
              expect(new Set(keys(due))).toEqual(new Set(expected));
              due.forEach((item, i) => {
                if (i / Math.max(1, due.length) < o.retryShare) {
                  work.retryLater(item, now);
                  const m = model.get(item.key);
                  if (m) m.nextTryAt = item.nextTryAt;
                } else {
                  work.remove(item.key);
                  model.delete(item.key);
                }
              });
            }
            const positions = [...model.values()].map((m) => m.position);
            expect(work.lowWater()).toBe(positions.length === 0 ? undefined : Math.min(...positions));
            expect(work.size).toBe(model.size);
          }
        }),
        { numRuns: 300 },
      );
    });

    it('finds the few due items among 100,000 pending, and the oldest position', () => {
      const work = new PendingWork<number>();
      for (let i = 0; i < 100_000; i++) work.add(`order-${i}`, i + 1, 600_000 + i, i);
      expect(work.due(599_999)).toEqual([]);
      expect(keys(work.due(600_002))).toEqual(['order-0', 'order-1', 'order-2']);
      expect(work.lowWater()).toBe(1);
    });
  });
});
