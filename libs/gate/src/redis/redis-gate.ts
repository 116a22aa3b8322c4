import Redis, { RedisOptions } from 'ioredis';
import { AdmitRequest, EligibilityGate, GateRefusal, GateSnapshot, GateUnavailable, GateVerdict } from '../gate.port';
import { ADMIT_LUA, CORRECT_LUA, RELEASE_LUA } from './gate.lua';

interface GateCommands {
  gateAdmit(meta: string, available: string, users: string, holds: string, ...argv: string[]): Promise<string[]>;
  gateRelease(available: string, users: string, holds: string, reservationId: string): Promise<number>;
  gateCorrect(available: string, shard: string, truth: string): Promise<number>;
}

/** Keys of one sale share a hash tag, so the scripts stay valid on a Redis Cluster (one slot per sale). */
const keys = (saleId: string) => ({
  meta: `gate:{${saleId}}:meta`,
  available: `gate:{${saleId}}:available`,
  users: `gate:{${saleId}}:users`,
  holds: `gate:{${saleId}}:holds`,
});

/** Eviction policies that may drop keys without a TTL: the gate's keys have none and must never vanish silently. */
const EVICTING_POLICIES = ['allkeys-lru', 'allkeys-lfu', 'allkeys-random'];

export class UnsafeRedisConfiguration extends Error {}

const LOAD_CHUNK = 10_000;

/**
 * The Redis gate. Each decision is one EVALSHA (ioredis sends the script body again on NOSCRIPT, e.g. after a
 * Redis restart). Commands fail fast while Redis is unreachable (no offline queue): a paused gate answers 503
 * rather than queueing a spike in memory.
 */
export class RedisGate implements EligibilityGate {
  private constructor(private readonly redis: Redis & GateCommands) {}

  static async connect(url: string, options: RedisOptions = {}): Promise<RedisGate> {
    const redis = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, ...options }) as Redis & GateCommands;
    redis.on('error', () => undefined); // surfaced per command as GateUnavailable; reconnects on its own
    redis.defineCommand('gateAdmit', { numberOfKeys: 4, lua: ADMIT_LUA });
    redis.defineCommand('gateRelease', { numberOfKeys: 3, lua: RELEASE_LUA });
    redis.defineCommand('gateCorrect', { numberOfKeys: 1, lua: CORRECT_LUA });
    await redis.connect();
    const [, policy] = (await redis.config('GET', 'maxmemory-policy')) as [string, string];
    if (EVICTING_POLICIES.includes(policy)) {
      redis.disconnect();
      throw new UnsafeRedisConfiguration(
        `Redis maxmemory-policy is "${policy}": it may evict the gate's keys and oversell the filter. Use "noeviction" (or a volatile-* policy).`,
      );
    }
    return new RedisGate(redis);
  }

  private async run<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (error) {
      throw new GateUnavailable(error);
    }
  }

  async load(s: GateSnapshot): Promise<void> {
    const k = keys(s.saleId);
    await this.run(async () => {
      const tx = this.redis.multi().del(k.meta, k.available, k.users, k.holds);
      tx.hset(k.available, Object.fromEntries(s.available.map((n, shard) => [String(shard), String(n)])));
      const users = new Map<string, number>();
      for (const h of s.holds) users.set(h.userId, (users.get(h.userId) ?? 0) + h.quantity);
      const userEntries: Array<[string, string]> = [...users].map(([u, q]) => [u, String(q)]);
      for (let i = 0; i < userEntries.length; i += LOAD_CHUNK) tx.hset(k.users, Object.fromEntries(userEntries.slice(i, i + LOAD_CHUNK)));
      for (let i = 0; i < s.holds.length; i += LOAD_CHUNK) {
        tx.hset(k.holds, Object.fromEntries(s.holds.slice(i, i + LOAD_CHUNK).map((h) => [h.reservationId, `${h.shard}:${h.quantity}:${h.stockTaken ? 1 : 0}:${h.userId}`])));
      }
      // meta last: a sale counts as loaded only once everything else is in place (MULTI makes it atomic anyway).
      tx.hset(k.meta, {
        startsAt: String(s.startsAt),
        endsAt: String(s.endsAt),
        perUserLimit: String(s.perUserLimit),
        shards: String(s.available.length),
      });
      const results = await tx.exec();
      const failed = results?.find(([error]) => error);
      if (!results || failed) throw failed?.[0] ?? new Error('MULTI aborted');
    });
  }

  async admit(r: AdmitRequest): Promise<GateVerdict> {
    const k = keys(r.saleId);
    const [verdict, shard] = await this.run(() =>
      this.redis.gateAdmit(k.meta, k.available, k.users, k.holds, r.userId, r.reservationId, String(r.quantity), String(r.now), String(r.startShard), r.takeStock ? '1' : '0'),
    );
    switch (verdict) {
      case 'ADMITTED':
        return { kind: 'admitted', shard: Number(shard) };
      case 'KNOWN':
        return { kind: 'known', shard: Number(shard) };
      case 'NOT_LOADED':
        return { kind: 'not-loaded' };
      default:
        return { kind: 'refused', code: verdict as GateRefusal };
    }
  }

  async release(saleId: string, reservationId: string): Promise<void> {
    const k = keys(saleId);
    await this.run(() => this.redis.gateRelease(k.available, k.users, k.holds, reservationId));
  }

  async correct(saleId: string, shard: number, available: number): Promise<void> {
    await this.run(() => this.redis.gateCorrect(keys(saleId).available, String(shard), String(available)));
  }

  async inspect(saleId: string) {
    const k = keys(saleId);
    return this.run(async () => {
      if (!(await this.redis.exists(k.meta))) return undefined;
      const shards = Number(await this.redis.hget(k.meta, 'shards'));
      const available = await this.redis.hgetall(k.available);
      const users = await this.redis.hgetall(k.users);
      return {
        available: Array.from({ length: shards }, (_, i) => Number(available[String(i)] ?? 0)),
        users: Object.fromEntries(Object.entries(users).map(([u, q]) => [u, Number(q)])),
        holds: await this.redis.hlen(k.holds),
      };
    });
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
