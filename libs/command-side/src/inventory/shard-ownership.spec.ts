import fc from 'fast-check';
import { assignShards } from './shard-ownership';

const replicaNames = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 6 });
const stockedShards = fc.uniqueArray(fc.integer({ min: 0, max: 63 }), { maxLength: 64 });

describe('assignShards: which replica should write each stocked shard', () => {
  it('gives every stocked shard to exactly one replica, and no replica more than its share', () => {
    fc.assert(
      fc.property(fc.string(), stockedShards, replicaNames, (saleId, stocked, replicas) => {
        const assignment = assignShards(saleId, stocked, replicas);
        const given = [...assignment.values()].flat();
        expect([...given].sort((a, b) => a - b)).toEqual([...stocked].sort((a, b) => a - b));
        const share = Math.ceil(stocked.length / replicas.length);
        for (const shards of assignment.values()) expect(shards.length).toBeLessThanOrEqual(share);
        expect([...assignment.keys()].sort()).toEqual([...replicas].sort());
      }),
    );
  });

  it('is the same answer on every replica, whatever order each one lists the members and shards in', () => {
    fc.assert(
      fc.property(fc.string(), stockedShards, replicaNames, (saleId, stocked, replicas) => {
        const here = assignShards(saleId, stocked, replicas);
        const there = assignShards(saleId, [...stocked].reverse(), [...replicas].reverse());
        for (const replica of replicas) expect(there.get(replica)).toEqual(here.get(replica));
      }),
    );
  });

  it('deals the shards still stocked over every replica again as others run dry, so no replica is left without stock while some remains', () => {
    const replicas = ['replica-a', 'replica-b'];
    const before = assignShards('sale-1', [0, 1, 2, 3], replicas);
    expect(before.get('replica-a')).toHaveLength(2);
    // The shards replica-a had are sold out: of the two left, it gets one.
    const left = before.get('replica-b') as number[];
    const after = assignShards('sale-1', left, replicas);
    expect(after.get('replica-a')).toHaveLength(1);
    expect(after.get('replica-b')).toHaveLength(1);
  });

  it('moves a departed replica\'s shards to those left, and spreads shards over sales rather than piling them on one replica', () => {
    const replicas = ['a', 'b', 'c'];
    const all = Array.from({ length: 12 }, (_, i) => i);
    const withC = assignShards('sale-1', all, replicas);
    const withoutC = assignShards('sale-1', all, ['a', 'b']);
    expect([...(withoutC.get('a') as number[]), ...(withoutC.get('b') as number[])].sort((x, y) => x - y)).toEqual(all);
    expect(withC.get('c')).toHaveLength(4);
    // Different sales rank replicas differently: a single shard does not always go to the same replica.
    const owners = new Set(Array.from({ length: 20 }, (_, i) => [...assignShards(`sale-${i}`, [0], replicas)].find(([, s]) => s.length > 0)?.[0]));
    expect(owners.size).toBeGreaterThan(1);
  });

  it('gives nothing to nobody', () => {
    expect(assignShards('sale-1', [0, 1], []).size).toBe(0);
    expect(assignShards('sale-1', [], ['a']).get('a')).toEqual([]);
  });
});
