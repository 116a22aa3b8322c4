import { SaleShardStock } from '@flash/command-side';
import Redis from 'ioredis';
import pino from 'pino';
import { eventually, settlesWithin } from '../../../../test/support/eventually';
import { RedisServer } from '../../../../test/support/redis-server';
import { RedisLeaseStore } from './redis-lease-store';
import { LeasedShardOwnership, RedisSaleMembers } from './shard-leases';

const TTL_MS = 600;
const SHARDS = 6;
const logger = pino({ level: 'silent' });

/**
 * Shard ownership under leases in a real redis-server: several replicas of one store split a sale's stocked shards with
 * no shard owned twice at any moment, take over a dead replica's shards once its leases run out, deal the shards
 * still stocked again as theirs run dry, and keep the shards they hold while their stock read stalls or fails.
 */
RedisServer.describeWithRedis('shard ownership under leases in Redis', () => {
  const redis = new RedisServer();
  let connections: Redis[] = [];
  let replicas: LeasedShardOwnership[] = [];
  let scope = 0;
  /** What each replica's shard writers say is still stocked: the test plays the sale. */
  let stocked: number[] = [];

  const stock = (): SaleShardStock[] => [{ saleId: 'sale-1', shards: SHARDS, stocked }];
  const replica = (
    name: string,
    sharedScope: string,
    sales: () => SaleShardStock[] | Promise<SaleShardStock[]> = stock,
  ): { ownership: LeasedShardOwnership; connection: Redis } => {
    const connection = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    connections.push(connection);
    const ownership = new LeasedShardOwnership(
      new RedisLeaseStore(connection, sharedScope, false),
      new RedisSaleMembers(connection, sharedScope),
      name,
      sales,
      logger,
      { ttlMs: TTL_MS },
    );
    replicas.push(ownership);
    return { ownership, connection };
  };
  const ownedBy = (r: LeasedShardOwnership): number[] => Array.from({ length: SHARDS }, (_, s) => s).filter((s) => r.owns('sale-1', s));

  beforeAll(() => redis.start());
  afterAll(() => redis.stop());
  beforeEach(() => {
    scope++;
    stocked = Array.from({ length: SHARDS }, (_, s) => s);
  });
  afterEach(async () => {
    for (const r of replicas) await r.stop().catch(() => undefined);
    for (const c of connections) c.disconnect();
    replicas = [];
    connections = [];
  });

  it('splits the stocked shards between two replicas, never one shard owned by both, and every shard owned by one', async () => {
    const a = replica('replica-a', `s${scope}`).ownership;
    const b = replica('replica-b', `s${scope}`).ownership;
    a.start();
    b.start();
    let overlaps = 0;
    const watch = setInterval(() => {
      for (let s = 0; s < SHARDS; s++) if (a.owns('sale-1', s) && b.owns('sale-1', s)) overlaps++;
    }, 5);
    try {
      await eventually('the two replicas own three shards each', async () => ownedBy(a).length === 3 && ownedBy(b).length === 3, { timeoutMs: 10_000 });
      expect([...ownedBy(a), ...ownedBy(b)].sort()).toEqual([0, 1, 2, 3, 4, 5]);
      // Held through several renewals.
      await new Promise((r) => setTimeout(r, TTL_MS * 2));
      expect(ownedBy(a).length + ownedBy(b).length).toBe(SHARDS);
    } finally {
      clearInterval(watch);
    }
    expect(overlaps).toBe(0);
  });

  it('takes over every shard of a replica that died, once its leases ran out; the dead one stopped claiming them before that', async () => {
    const a = replica('replica-a', `s${scope}`).ownership;
    const dying = replica('replica-b', `s${scope}`);
    a.start();
    dying.ownership.start();
    await eventually('split', async () => ownedBy(a).length === 3 && ownedBy(dying.ownership).length === 3, { timeoutMs: 10_000 });
    // Cut off from Redis (as a killed or partitioned replica is): it can renew nothing.
    dying.connection.disconnect();
    let overlaps = 0;
    const watch = setInterval(() => {
      for (let s = 0; s < SHARDS; s++) if (a.owns('sale-1', s) && dying.ownership.owns('sale-1', s)) overlaps++;
    }, 5);
    try {
      await eventually('the survivor owns every shard', async () => ownedBy(a).length === SHARDS, { timeoutMs: 10_000 });
      expect(ownedBy(dying.ownership)).toEqual([]);
    } finally {
      clearInterval(watch);
    }
    expect(overlaps).toBe(0);
  });

  it('deals the shards still stocked again as a replica\'s own run dry, and gives back shards it no longer needs', async () => {
    const a = replica('replica-a', `s${scope}`).ownership;
    const b = replica('replica-b', `s${scope}`).ownership;
    a.start();
    b.start();
    await eventually('split', async () => ownedBy(a).length === 3 && ownedBy(b).length === 3, { timeoutMs: 10_000 });
    // Every shard replica-a owns sells out: what is left goes half to it.
    const left = ownedBy(b);
    stocked = left;
    await eventually('replica-a owns some of the shards still stocked', async () => ownedBy(a).length > 0 && ownedBy(a).every((s) => left.includes(s)), { timeoutMs: 10_000 });
    expect(ownedBy(a).length + ownedBy(b).length).toBe(left.length);
    expect(ownedBy(a).filter((s) => ownedBy(b).includes(s))).toEqual([]);
  });

  it('gives every shard back at a clean stop, so the other replica takes them at its next round rather than a lease later', async () => {
    const a = replica('replica-a', `s${scope}`).ownership;
    const b = replica('replica-b', `s${scope}`).ownership;
    a.start();
    b.start();
    await eventually('split', async () => ownedBy(a).length === 3 && ownedBy(b).length === 3, { timeoutMs: 10_000 });
    await b.stop();
    expect(ownedBy(b)).toEqual([]);
    await eventually('replica-a owns every shard', async () => ownedBy(a).length === SHARDS, { timeoutMs: 10_000 });
  });

  it.each([
    ['never answers', (): Promise<SaleShardStock[]> => new Promise<SaleShardStock[]>(() => undefined)],
    ['answers only after three lease lengths', (): Promise<SaleShardStock[]> => new Promise((resolve) => setTimeout(() => resolve(stock()), TTL_MS * 3))],
    ['rejects', (): Promise<SaleShardStock[]> => Promise.reject(new Error('store unreachable'))],
    [
      'throws',
      (): SaleShardStock[] => {
        throw new Error('store unreachable');
      },
    ],
  ])(
    'keeps renewing the shards it holds while its stock read %s: owned throughout, taken by no other replica, no unhandled rejection; the deal resumes once the read answers',
    async (_, wrong) => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        let readGoesWrong = false;
        let bRounds = 0;
        const a = replica('replica-a', `s${scope}`, () => (readGoesWrong ? wrong() : stock())).ownership;
        const b = replica('replica-b', `s${scope}`, () => {
          bRounds++;
          return stock();
        }).ownership;
        a.start();
        await eventually('replica-a owns every shard', async () => ownedBy(a).length === SHARDS, { timeoutMs: 10_000 });
        // Its store stalls or fails, and replica-b joins wanting half the shards.
        readGoesWrong = true;
        b.start();
        let lapses = 0;
        const watch = setInterval(() => (lapses += SHARDS - ownedBy(a).length + ownedBy(b).length), 5);
        try {
          // Twelve rounds of replica-b: four lease lengths.
          await eventually('replica-b asked for its shards through four lease lengths', async () => bRounds >= 12, { timeoutMs: 20_000 });
        } finally {
          clearInterval(watch);
        }
        expect(lapses).toBe(0);
        expect(unhandled).toEqual([]);
        // A round ends, and resolves, however the read went.
        await expect(settlesWithin('a round of replica-a', a.step(), 10_000)).resolves.toBeUndefined();
        readGoesWrong = false;
        await eventually('the two replicas own three shards each', async () => ownedBy(a).length === 3 && ownedBy(b).length === 3, { timeoutMs: 10_000 });
        await b.stop();
        await eventually('replica-a takes every shard again', async () => ownedBy(a).length === SHARDS, { timeoutMs: 10_000 });
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    },
  );

  it('a replica leaving a sale does not shorten the membership the others keep alive', async () => {
    const members = new RedisSaleMembers(replica('unused', `s${scope}`).connection, `s${scope}`);
    const probe = replica('probe', `s${scope}`).connection;
    await members.heartbeat('sale-1', 'replica-a', 10_000);
    await members.heartbeat('sale-1', 'replica-b', 10_000);
    await members.heartbeat('sale-1', 'replica-a', 0);
    // replica-b said it serves the sale for 10 s: its entry (and the key holding it) must outlive a 4 s leave.
    expect(await probe.pttl(`flash:members:s${scope}:sale-1`)).toBeGreaterThan(10_000);
    expect(await members.heartbeat('sale-1', 'replica-b', 10_000)).toEqual(['replica-b']);
  });
});
