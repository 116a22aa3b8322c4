import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { assignShards, SaleShardStock, ShardOwnership } from '@flash/command-side';
import IORedis from 'ioredis';
import type Redis from 'ioredis';
import type { Logger } from 'pino';
import type { AppConfig } from '../config';
import { answeredWithin, LeaseRhythm } from './leased-job';
import { Lease, LeaseStore, storeScope } from './lease-store';
import { RedisLeaseStore } from './redis-lease-store';

/** Who serves a sale now: each replica says so every round, and is forgotten when it stops saying it. */
export interface SaleMembers {
  /** Marks `member` as serving `saleId` for `ttlMs` (0: no longer) and answers every member still serving it. */
  heartbeat(saleId: string, member: string, ttlMs: number): Promise<string[]>;
}

/** KEYS: members (a sorted set scored by expiry, on Redis's clock). ARGV: member, ttl ms (0: leave). */
const HEARTBEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ttl > 0 then redis.call('ZADD', KEYS[1], now + ttl, ARGV[1]) else redis.call('ZREM', KEYS[1], ARGV[1]) end
redis.call('PEXPIRE', KEYS[1], math.max(ttl, 1000) * 4)
return redis.call('ZRANGE', KEYS[1], 0, -1)
`;

/** Sale membership in Redis, scoped like the leases (storeScope): replicas of one store, on any host. */
export class RedisSaleMembers implements SaleMembers {
  private readonly prefix: string;

  constructor(
    private readonly redis: Redis,
    scope: string,
  ) {
    this.prefix = `flash:members:${scope}:`;
  }

  async heartbeat(saleId: string, member: string, ttlMs: number): Promise<string[]> {
    return (await this.redis.eval(HEARTBEAT, 1, this.prefix + saleId, member, String(ttlMs))) as string[];
  }
}

export interface ShardLeasesOptions {
  /** SHARD_LEASE_MS: how long a shard's lease lasts unless renewed; a dead replica's shards move within about this. */
  readonly ttlMs: number;
  readonly now?: () => number;
}

interface Held {
  readonly lease: Lease;
  /** Until when this process may act on the lease: counted from when its last renewal was sent, less a margin. */
  validUntil: number;
}

/**
 * Shard ownership under leases (ShardOwnership): every third of a lease, for each sale whose inventory this replica
 * has loaded, it says it serves the sale (SaleMembers), works out which stocked shards are its own (assignShards over
 * the members), takes the leases of those that are free, renews those it holds, and gives back those no longer its
 * own — so the next owner takes them a round later instead of a lease later.
 *
 * `owns` is answered from memory: true only while the last renewal, counted from when it was sent, leaves more than a
 * fifth of the lease (the margin LeasedJob keeps too). A replica cut off from Redis stops routing to its shards before
 * its leases can have run out, and a successor's first append settles any batch still in flight (the stream's expected
 * revision is the fence: a write decided before the successor's is refused, re-read and decided again).
 */
export class LeasedShardOwnership implements ShardOwnership {
  private readonly held = new Map<string, Held>();
  private round: Promise<void> | undefined;
  private pacer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly rhythm: LeaseRhythm;

  constructor(
    private readonly leases: LeaseStore,
    private readonly members: SaleMembers,
    readonly holder: string,
    /** The loaded sales' stock, read again each round (it may read the store: Inventories.shardStock). */
    private readonly sales: () => readonly SaleShardStock[] | Promise<readonly SaleShardStock[]>,
    private readonly logger: Logger,
    private readonly options: ShardLeasesOptions,
  ) {
    this.rhythm = new LeaseRhythm(options.ttlMs, options.now);
  }

  owns(saleId: string, shard: number): boolean {
    const held = this.held.get(jobOf(saleId, shard));
    return held !== undefined && this.rhythm.now() < held.validUntil;
  }

  /** Shards held now, per sale (metrics). */
  ownedShards(): Map<string, number> {
    const owned = new Map<string, number>();
    for (const [job, held] of this.held) {
      if (this.rhythm.now() >= held.validUntil) continue;
      const saleId = job.slice(JOB_PREFIX.length, job.lastIndexOf(':'));
      owned.set(saleId, (owned.get(saleId) ?? 0) + 1);
    }
    return owned;
  }

  start(): void {
    this.pacer = setInterval(() => void this.step(), this.rhythm.pacingMs);
    this.pacer.unref();
    void this.step();
  }

  /** One round over every loaded sale; rounds never overlap. A sale loaded since the last round is taken up at once. */
  step(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.round ??= this.takeOrRenewAll().finally(() => (this.round = undefined));
    return this.round;
  }

  private async takeOrRenewAll(): Promise<void> {
    const sales = await this.sales();
    await Promise.all(
      sales.map((sale) =>
        this.takeOrRenew(sale).catch((error: unknown) => this.logger.warn({ err: error, saleId: sale.saleId }, 'could not renew shard leases; retrying next round')),
      ),
    );
  }

  private async takeOrRenew(sale: SaleShardStock): Promise<void> {
    const members = await answeredWithin(this.members.heartbeat(sale.saleId, this.holder, this.options.ttlMs), this.rhythm.pacingMs);
    // Unanswered: renew what is held (a silent Redis ends it through `validUntil`), take nothing new.
    const mine = members === undefined ? undefined : new Set(assignShards(sale.saleId, sale.stocked, members).get(this.holder) ?? []);
    await Promise.all(
      Array.from({ length: sale.shards }, (_, shard) => {
        const want = mine === undefined ? this.held.has(jobOf(sale.saleId, shard)) : mine.has(shard);
        return this.settle(jobOf(sale.saleId, shard), want);
      }),
    );
  }

  private async settle(job: string, want: boolean): Promise<void> {
    const held = this.held.get(job);
    const sentAt = this.rhythm.now();
    if (held !== undefined && !want) {
      this.held.delete(job);
      await this.leases.release(held.lease);
      return;
    }
    if (held !== undefined) {
      const renewed = await answeredWithin(this.leases.renew(held.lease, this.options.ttlMs), this.rhythm.pacingMs);
      if (renewed === true) held.validUntil = this.rhythm.actUntil(sentAt);
      else if (renewed === false) {
        this.held.delete(job);
        this.logger.warn({ job, fence: held.lease.fence }, 'shard lease lost to another replica');
      }
      return;
    }
    if (!want) return;
    const asked = this.leases.acquire(job, this.holder, this.options.ttlMs);
    const lease = await answeredWithin(asked, this.rhythm.pacingMs);
    if (lease === undefined) {
      // A late grant is given back rather than left to run out (the next round asks again).
      void asked.then((late) => (late !== undefined && this.held.get(job)?.lease.fence !== late.fence ? this.leases.release(late) : undefined)).catch(() => undefined);
      return;
    }
    if (this.stopped) {
      await this.leases.release(lease);
      return;
    }
    this.held.set(job, { lease, validUntil: this.rhythm.actUntil(sentAt) });
    this.logger.debug({ job, fence: lease.fence }, 'shard lease taken');
  }

  /** Gives every shard back and leaves every sale, so the other replicas take them at their next round; closes the store. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pacer) clearInterval(this.pacer);
    await this.round;
    const held = [...this.held.values()];
    this.held.clear();
    const sales = await Promise.resolve(this.sales()).catch(() => []);
    await Promise.allSettled([
      ...held.map((h) => this.leases.release(h.lease)),
      ...sales.map((sale) => this.members.heartbeat(sale.saleId, this.holder, 0)),
    ]);
    await this.leases.close();
  }
}

const JOB_PREFIX = 'shard:';
const jobOf = (saleId: string, shard: number): string => `${JOB_PREFIX}${saleId}:${shard}`;

/**
 * Shard ownership for an api replica: under leases in Redis when several replicas can share the store (a server-backed
 * EVENTSTORE_URL and REDIS_URL); undefined otherwise — one process on an embedded store owns every shard, and replicas
 * on a shared store without Redis each write every shard, their conflicts deciding.
 */
export const openShardLeases = (
  config: Pick<AppConfig, 'redisUrl' | 'eventStoreUrl' | 'dataDir' | 'shardLeaseMs'>,
  sales: () => readonly SaleShardStock[] | Promise<readonly SaleShardStock[]>,
  logger: Logger,
): LeasedShardOwnership | undefined => {
  if (config.redisUrl === undefined || config.eventStoreUrl === undefined) return undefined;
  const redis = new IORedis(config.redisUrl, { maxRetriesPerRequest: 1 });
  const scope = storeScope(config);
  const holder = `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  return new LeasedShardOwnership(
    new RedisLeaseStore(redis, scope),
    new RedisSaleMembers(redis, scope),
    holder,
    sales,
    logger.child({ component: 'shard-leases', holder }),
    { ttlMs: config.shardLeaseMs },
  );
};
