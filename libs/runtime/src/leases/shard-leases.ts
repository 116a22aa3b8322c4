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
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], math.max(ttl, 1000) * 4) end
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
 * Shard ownership under leases (ShardOwnership): every third of a lease it renews the shard leases it holds, then, for
 * each sale whose inventory this replica has loaded, says it serves the sale (SaleMembers), works out which stocked
 * shards are its own (assignShards over the members), takes the leases of those that are free, and gives back those no
 * longer its own — so the next owner takes them a round later instead of a lease later.
 *
 * The renewals need only Redis and go first, alongside the read of the loaded sales' stock (which may read the store):
 * a read that is slow or fails costs this round its new shards, never the shards held — a stalled store must not hand
 * a live replica's shards over.
 *
 * `owns` is answered from memory: true only while the last renewal, counted from when it was sent, leaves more than a
 * fifth of the lease (the margin LeasedJob keeps too). A replica cut off from Redis stops routing to its shards before
 * its leases can have run out, and a successor's first append settles any batch still in flight (the stream's expected
 * revision is the fence: a write decided before the successor's is refused, re-read and decided again).
 */
export class LeasedShardOwnership implements ShardOwnership {
  private readonly held = new Map<string, Held>();
  /** jobOf(sale, shard), per sale and shard, for `owns` (a sale's few names, kept while the process lives). */
  private readonly jobNames = new Map<string, string[]>();
  /** The sales this replica said it serves: it leaves them at stop. */
  private readonly serving = new Set<string>();
  /** Shards whose acquire has been sent and not answered yet. */
  private readonly asking = new Set<string>();
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

  /** Asked a few times per reservation: the job's name is built once per shard, not at each call. */
  owns(saleId: string, shard: number): boolean {
    const held = this.held.get(this.jobName(saleId, shard));
    return held !== undefined && this.rhythm.now() < held.validUntil;
  }

  private jobName(saleId: string, shard: number): string {
    let names = this.jobNames.get(saleId);
    if (names === undefined) this.jobNames.set(saleId, (names = []));
    return (names[shard] ??= jobOf(saleId, shard));
  }

  /** Shards held now, per sale (metrics). */
  ownedShards(): Map<string, number> {
    const owned = new Map<string, number>();
    for (const [job, held] of this.held) {
      if (this.rhythm.now() >= held.validUntil) continue;
      const saleId = saleOf(job);
      owned.set(saleId, (owned.get(saleId) ?? 0) + 1);
    }
    return owned;
  }

  start(): void {
    this.pacer = setInterval(() => void this.step(), this.rhythm.pacingMs);
    this.pacer.unref();
    void this.step();
  }

  /**
   * One round over every loaded sale; rounds never overlap. A sale loaded since the last round is taken up at once.
   * Never rejects: it runs from a timer, where a rejection would end the process.
   */
  step(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.round ??= this.takeOrRenewAll()
      .catch((error: unknown) => this.logger.warn({ err: error }, 'shard lease round failed; retrying next round'))
      .finally(() => (this.round = undefined));
    return this.round;
  }

  private async takeOrRenewAll(): Promise<void> {
    const renewals = Promise.allSettled([...this.held.keys()].map((job) => this.renew(job)));
    const sales = await this.readSales();
    await renewals;
    if (sales === undefined) return;
    // A held shard of a sale no longer listed is nobody's to serve here: given back like any shard no longer this one's.
    const listed = new Set(sales.map((sale) => sale.saleId));
    const unlisted = [...this.held.keys()].filter((job) => !listed.has(saleOf(job)));
    await Promise.all([
      ...unlisted.map((job) => this.settle(job, false).catch((error: unknown) => this.logger.warn({ err: error, job }, 'could not give a shard lease back'))),
      ...sales.map((sale) =>
        this.takeOrGiveBack(sale).catch((error: unknown) => this.logger.warn({ err: error, saleId: sale.saleId }, 'could not take shard leases; retrying next round')),
      ),
    ]);
  }

  /** The loaded sales' stock, or undefined when the read failed or has not answered within a pacing interval. */
  private async readSales(): Promise<readonly SaleShardStock[] | undefined> {
    try {
      // Read anew each round (a shard's catch-up under way is joined, not begun again: ShardWriter.fresh).
      const sales = await answeredWithin(Promise.resolve().then(() => this.sales()), this.rhythm.pacingMs);
      if (sales === undefined) this.logger.warn('the loaded sales\' stock not read within a round; held shards renewed, none taken this round');
      return sales;
    } catch (error) {
      this.logger.warn({ err: error }, 'could not read the loaded sales\' stock; held shards renewed, none taken this round');
      return undefined;
    }
  }

  private async takeOrGiveBack(sale: SaleShardStock): Promise<void> {
    this.serving.add(sale.saleId);
    const members = await answeredWithin(this.members.heartbeat(sale.saleId, this.holder, this.options.ttlMs), this.rhythm.pacingMs);
    // Unanswered: keep what is held (renewed already; a silent Redis ends it through `validUntil`), take nothing new.
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
    // Held and still wanted: renewed at the round's start already.
    if (held !== undefined || !want) return;
    // One acquire of a shard at a time: a late grant given back below could otherwise be the very grant a later round
    // has just recorded as held (the same holder is granted the same fence), leaving the shard free in Redis.
    if (this.asking.has(job)) return;
    this.asking.add(job);
    const asked = this.leases.acquire(job, this.holder, this.options.ttlMs).finally(() => this.asking.delete(job));
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

  /** Renews a held shard's lease; unanswered, it stays held until `validUntil` says it may be over. */
  private async renew(job: string): Promise<void> {
    const held = this.held.get(job);
    if (held === undefined) return;
    const sentAt = this.rhythm.now();
    const renewed = await answeredWithin(this.leases.renew(held.lease, this.options.ttlMs), this.rhythm.pacingMs).catch((error: unknown) => {
      this.logger.warn({ err: error, job }, 'could not renew a shard lease; retrying next round');
      return undefined;
    });
    if (renewed === true) held.validUntil = this.rhythm.actUntil(sentAt);
    else if (renewed === false) {
      this.held.delete(job);
      this.logger.warn({ job, fence: held.lease.fence }, 'shard lease lost to another replica');
    }
  }

  /** Gives every shard back and leaves every sale, so the other replicas take them at their next round; closes the store. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pacer) clearInterval(this.pacer);
    await this.round;
    const held = [...this.held.values()];
    this.held.clear();
    // The sales it said it serves, not a new stock read: a stalled store must not hold up the stop.
    await Promise.allSettled([
      ...held.map((h) => this.leases.release(h.lease)),
      ...[...this.serving].map((saleId) => this.members.heartbeat(saleId, this.holder, 0)),
    ]);
    await this.leases.close();
  }
}

const JOB_PREFIX = 'shard:';
const jobOf = (saleId: string, shard: number): string => `${JOB_PREFIX}${saleId}:${shard}`;
const saleOf = (job: string): string => job.slice(JOB_PREFIX.length, job.lastIndexOf(':'));

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
