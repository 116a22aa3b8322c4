import pino from 'pino';
import { Lease, LeaseStore } from './lease-store';
import { LeasedShardOwnership, SaleMembers } from './shard-leases';

const TTL_MS = 300;

/** A lease store whose grants the test hands out: acquires wait until `grant()`. */
class SlowGrants implements LeaseStore {
  readonly asked: Array<{ job: string; answer: (lease: Lease | undefined) => void }> = [];
  readonly released: Lease[] = [];

  acquire(job: string): Promise<Lease | undefined> {
    return new Promise((answer) => this.asked.push({ job, answer }));
  }
  renew(): Promise<boolean> {
    return Promise.resolve(true);
  }
  release(lease: Lease): Promise<void> {
    this.released.push(lease);
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const alone: SaleMembers = { heartbeat: (_saleId, member) => Promise.resolve([member]) };

describe('LeasedShardOwnership', () => {
  it('asks for a shard once while its grant is late: a later round sends no second acquire that a give-back could undo', async () => {
    const leases = new SlowGrants();
    const ownership = new LeasedShardOwnership(leases, alone, 'replica-a', () => [{ saleId: 'sale-1', shards: 1, stocked: [0] }], pino({ level: 'silent' }), { ttlMs: TTL_MS });
    await ownership.step(); // the acquire goes unanswered past the round's bound
    await ownership.step();
    await ownership.step();
    expect(leases.asked.map((a) => a.job)).toEqual(['shard:sale-1:0']);
    // The late grant arrives: given back (the next round asks again), never recorded.
    leases.asked[0]?.answer({ job: 'shard:sale-1:0', holder: 'replica-a', fence: 1 });
    await new Promise((r) => setImmediate(r));
    expect(leases.released).toHaveLength(1);
    expect(ownership.owns('sale-1', 0)).toBe(false);
    void ownership.step();
    await new Promise((r) => setImmediate(r));
    expect(leases.asked).toHaveLength(2);
  });
});
