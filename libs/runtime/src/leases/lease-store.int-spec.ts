import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { RedisServer } from '../../../../test/support/redis-server';
import { LeaseStore } from './lease-store';
import { RedisLeaseStore } from './redis-lease-store';
import { SqliteLeaseStore } from './sqlite-lease-store';

/**
 * One contract for every lease store. `open()` gives a store over shared state: two stores from one `open` family
 * are two processes contending for the same jobs.
 */
const leaseStoreContract = (name: string, family: () => { open: () => LeaseStore; cleanup: () => Promise<void> }) => {
  describe(`${name} lease store`, () => {
    let opened: LeaseStore[] = [];
    let f: ReturnType<typeof family>;
    const open = (): LeaseStore => {
      const store = f.open();
      opened.push(store);
      return store;
    };
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    let job = 0;
    const nextJob = () => `job-${process.pid}-${++job}`;

    beforeEach(() => {
      f = family();
    });
    afterEach(async () => {
      for (const s of opened) await s.close();
      opened = [];
      await f.cleanup();
    });

    it('gives a free job to the first holder, refuses it to others while the lease runs, extends it for its holder', async () => {
      const [a, b] = [open(), open()];
      const j = nextJob();
      const lease = await a.acquire(j, 'worker-a', 5000);
      expect(lease).toEqual({ job: j, holder: 'worker-a', fence: 1 });
      expect(await b.acquire(j, 'worker-b', 5000)).toBeUndefined();
      // The same holder asking again keeps its fence.
      expect(await a.acquire(j, 'worker-a', 5000)).toEqual(lease);
      expect(await a.renew(lease!, 5000)).toBe(true);
      // Other jobs are independent.
      expect(await b.acquire(nextJob(), 'worker-b', 5000)).toMatchObject({ holder: 'worker-b', fence: 1 });
    });

    it('hands a lease that ran out to the next holder with a higher fence; the old holder can no longer renew it', async () => {
      const [a, b] = [open(), open()];
      const j = nextJob();
      const first = (await a.acquire(j, 'worker-a', 150))!;
      await sleep(300);
      const second = await b.acquire(j, 'worker-b', 5000);
      expect(second).toEqual({ job: j, holder: 'worker-b', fence: first.fence + 1 });
      expect(await a.renew(first, 5000)).toBe(false);
      expect(await a.acquire(j, 'worker-a', 5000)).toBeUndefined();
    });

    it('does not renew a lease that ran out, even when nobody took it: its holder must take it again, under a new fence', async () => {
      const a = open();
      const j = nextJob();
      const first = (await a.acquire(j, 'worker-a', 150))!;
      await sleep(300);
      expect(await a.renew(first, 5000)).toBe(false);
      expect(await a.acquire(j, 'worker-a', 5000)).toEqual({ job: j, holder: 'worker-a', fence: first.fence + 1 });
    });

    it('lets a standby take a released job at once, and ignores a release by a holder that no longer holds it', async () => {
      const [a, b] = [open(), open()];
      const j = nextJob();
      const first = (await a.acquire(j, 'worker-a', 60_000))!;
      await a.release(first);
      const second = (await b.acquire(j, 'worker-b', 60_000))!;
      expect(second.fence).toBe(first.fence + 1);
      await a.release(first); // stale: must not free b's lease
      expect(await a.acquire(j, 'worker-a', 60_000)).toBeUndefined();
      expect(await b.renew(second, 60_000)).toBe(true);
    });

    it('gives a contended job to exactly one of many holders', async () => {
      const stores = Array.from({ length: 8 }, () => open());
      const j = nextJob();
      const leases = await Promise.all(stores.map((s, i) => s.acquire(j, `worker-${i}`, 60_000)));
      expect(leases.filter((l) => l !== undefined)).toHaveLength(1);
    });
  });
};

leaseStoreContract('SQLite', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leases-'));
  return { open: () => new SqliteLeaseStore(path.join(dir, 'worker.sqlite')), cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }) };
});

RedisServer.describeWithRedis('leases on the own redis-server', () => {
  const server = new RedisServer();
  beforeAll(() => server.start());
  afterAll(() => server.stop());
  leaseStoreContract('Redis', () => ({ open: () => new RedisLeaseStore(new Redis(server.url), 'test-scope'), cleanup: async () => undefined }));

  it('keeps the leases of two stores apart on one Redis: each store has its own holder', async () => {
    const [one, other] = [new RedisLeaseStore(new Redis(server.url), 'store-one'), new RedisLeaseStore(new Redis(server.url), 'store-two')];
    try {
      expect(await one.acquire('sagas', 'worker-of-one', 60_000)).toMatchObject({ fence: 1 });
      expect(await other.acquire('sagas', 'worker-of-two', 60_000)).toMatchObject({ fence: 1 });
    } finally {
      await one.close();
      await other.close();
    }
  });
});
