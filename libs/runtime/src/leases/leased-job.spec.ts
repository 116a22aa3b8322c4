import pino from 'pino';
import { eventually } from '../../../../test/support/eventually';
import { Lease, LeaseStore } from './lease-store';
import { LeasedJob } from './leased-job';

/** Leases in memory, on the real clock; `cutOff(holder)` makes that holder's renewals hang, as a partitioned process's would. */
class MemoryLeases implements LeaseStore {
  private readonly rows = new Map<string, { holder: string; fence: number; expiresAt: number }>();
  private readonly unreachable = new Set<string>();

  cutOff(holder: string): void {
    this.unreachable.add(holder);
  }

  async acquire(job: string, holder: string, ttlMs: number): Promise<Lease | undefined> {
    if (this.unreachable.has(holder)) return new Promise<never>(() => undefined);
    const row = this.rows.get(job);
    const running = row !== undefined && row.expiresAt > Date.now();
    if (running && row.holder !== holder) return undefined;
    const fence = running ? row.fence : (row?.fence ?? 0) + 1;
    this.rows.set(job, { holder, fence, expiresAt: Date.now() + ttlMs });
    return { job, holder, fence };
  }

  async renew(lease: Lease, ttlMs: number): Promise<boolean> {
    if (this.unreachable.has(lease.holder)) return new Promise<never>(() => undefined);
    const row = this.rows.get(lease.job);
    if (row === undefined || row.holder !== lease.holder || row.fence !== lease.fence || row.expiresAt <= Date.now()) return false;
    row.expiresAt = Date.now() + ttlMs;
    return true;
  }

  async release(lease: Lease): Promise<void> {
    const row = this.rows.get(lease.job);
    if (row?.holder === lease.holder && row.fence === lease.fence) row.expiresAt = 0;
  }

  /** When the store itself would let another holder take the job. */
  expiresAt(job: string): number {
    return this.rows.get(job)?.expiresAt ?? 0;
  }

  async close(): Promise<void> {}
}

const TTL_MS = 600;
const silent = pino({ level: 'silent' });

const setUp = () => {
  const leases = new MemoryLeases();
  const timeline: Array<{ what: string; at: number; fence: number }> = [];
  const jobFor = (holder: string) =>
    new LeasedJob(
      leases,
      'sagas',
      holder,
      async (fence) => {
        timeline.push({ what: `${holder} begins`, at: Date.now(), fence });
        return { stop: async () => void timeline.push({ what: `${holder} stops`, at: Date.now(), fence }) };
      },
      silent,
      { ttlMs: TTL_MS },
    );
  return { leases, timeline, jobFor };
};

describe('LeasedJob', () => {
  const running: LeasedJob[] = [];
  afterEach(async () => {
    for (const job of running.splice(0)) await job.stop();
  });

  it('runs the job in one process: the first to start leads, the other stands by', async () => {
    const t = setUp();
    const [a, b] = [t.jobFor('a'), t.jobFor('b')];
    running.push(a, b);
    await a.start();
    await b.start();
    expect([a.leading, b.leading]).toEqual([true, false]);
    // Renewals keep it there for many lease lengths.
    await new Promise((r) => setTimeout(r, TTL_MS * 3));
    expect([a.leading, b.leading]).toEqual([true, false]);
    expect(t.timeline.map((e) => e.what)).toEqual(['a begins']);
  });

  it('a holder cut off from the store stops acting before its lease can run out; the standby then takes over, fenced higher', async () => {
    const t = setUp();
    const [a, b] = [t.jobFor('a'), t.jobFor('b')];
    running.push(a, b);
    await a.start();
    await b.start();
    t.leases.cutOff('a');
    await eventually('the standby took over', () => b.leading, { timeoutMs: TTL_MS * 10 });
    const stopA = t.timeline.find((e) => e.what === 'a stops');
    const beginB = t.timeline.find((e) => e.what === 'b begins');
    expect(stopA).toBeDefined();
    expect(beginB).toBeDefined();
    // Stopped before the store could hand the job on, so never two at work.
    expect(stopA!.at).toBeLessThanOrEqual(beginB!.at);
    expect(beginB!.fence).toBeGreaterThan(stopA!.fence);
    expect(a.leading).toBe(false);
  });

  it('a clean stop gives the lease up: the standby takes over without waiting for it to run out', async () => {
    const t = setUp();
    const [a, b] = [t.jobFor('a'), t.jobFor('b')];
    running.push(b);
    await a.start();
    await b.start();
    const leaseEnd = t.leases.expiresAt('sagas');
    await a.stop();
    await eventually('the standby took over', () => b.leading, { timeoutMs: TTL_MS * 10 });
    expect(t.timeline.find((e) => e.what === 'b begins')!.at).toBeLessThan(leaseEnd);
    expect(t.timeline.map((e) => e.what)).toEqual(['a begins', 'a stops', 'b begins']);
  });
});

describe('LeasedJob asking for its lease', () => {
  it('asks once while a grant is late: a later round sends no second acquire that giving the late grant back could undo', async () => {
    const asked: Array<(lease: Lease | undefined) => void> = [];
    const released: Lease[] = [];
    const slow: LeaseStore = {
      acquire: () => new Promise((answer) => asked.push(answer)),
      renew: async () => true,
      release: async (lease) => void released.push(lease),
      close: async () => undefined,
    };
    const job = new LeasedJob(slow, 'sagas', 'worker-a', async () => ({ stop: async () => undefined }), silent, { ttlMs: TTL_MS });
    await job.step(); // unanswered past the round's bound
    await job.step();
    await job.step();
    expect(asked).toHaveLength(1);
    // The late grant is given back, never taken; the next round asks again.
    asked[0]?.({ job: 'sagas', holder: 'worker-a', fence: 1 });
    await new Promise((r) => setImmediate(r));
    expect(released).toHaveLength(1);
    expect(job.leading).toBe(false);
    void job.step();
    await new Promise((r) => setImmediate(r));
    expect(asked).toHaveLength(2);
  });
});
