import { createHash } from 'node:crypto';
import Redis, { Command, RedisOptions } from 'ioredis';
import { AdmitRequest, EligibilityGate, GateSnapshot, GateUnavailable, GateVerdict } from '../gate.port';
import { ADMIT_LUA, ADMIT_REPLY, CORRECT_LUA, RELEASE_LUA } from './gate.lua';

/** A Lua script and its SHA1, computed once: every call is an EVALSHA, the body is sent only after NOSCRIPT. */
interface LuaScript {
  readonly lua: string;
  readonly sha: string;
}

const script = (lua: string): LuaScript => ({ lua, sha: createHash('sha1').update(lua).digest('hex') });

const ADMIT = script(ADMIT_LUA);
const RELEASE = script(RELEASE_LUA);
const CORRECT = script(CORRECT_LUA);

/** Redis answers NOSCRIPT when its script cache lacks the sha (a restart, SCRIPT FLUSH): the script did not run. */
const isNoScript = (error: unknown): boolean => error instanceof Error && error.message.startsWith('NOSCRIPT');

interface SaleKeys {
  readonly meta: string;
  readonly available: string;
  readonly users: string;
  readonly holds: string;
}

/** Keys of one sale share a hash tag, so the scripts stay valid on a Redis Cluster (one slot per sale). */
const keys = (saleId: string): SaleKeys => ({
  meta: `gate:{${saleId}}:meta`,
  available: `gate:{${saleId}}:available`,
  users: `gate:{${saleId}}:users`,
  holds: `gate:{${saleId}}:holds`,
});

/** A RESP bulk string. */
const bulk = (s: string): string => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;

/** Admit's fixed arguments (the sha, the key count and the four keys); six per decision follow them. */
const ADMIT_FIXED_ARGS = 6;

/**
 * At most this many decisions go in one script call: the script runs atomically, so a long batch holds up every
 * other command on that Redis, and it hands each item's hold and buyer to HMGET through Lua's unpack (a few thousand
 * values at most); a longer turn sends several calls, in order, on the same connection. A full batch is sent at
 * once, not at the end of the turn, so that Redis decides it while this process is still gathering the next: with
 * row 4's 256 in flight, 128 measured better than 256 (no overlap) and than 64 (more calls per decision).
 */
export const MAX_ADMIT_BATCH = 128;

/** What admit needs per sale, built once: the keys, and the RESP encoding of everything before the arguments. */
interface SaleAdmit {
  readonly saleId: string;
  readonly keys: SaleKeys;
  /** `EVALSHA sha 4 meta available users holds` as sent, without the array header (which counts the decisions). */
  readonly head: string;
}

const saleAdmit = (saleId: string, keyPrefix: string): SaleAdmit => {
  const k = keys(saleId);
  const head = [k.meta, k.available, k.users, k.holds].reduce((out, key) => out + bulk(keyPrefix + key), `${bulk('evalsha')}${bulk(ADMIT.sha)}${bulk('4')}`);
  return { saleId, keys: k, head };
};

/** The decisions of one sale gathered in one event-loop turn: their arguments, item after item, and their callers. */
interface AdmitBatch {
  readonly sale: SaleAdmit;
  readonly args: string[];
  readonly callers: Array<{ resolve(verdict: GateVerdict): void; reject(error: unknown): void }>;
}

/**
 * One batch as one EVALSHA whose fixed part is encoded once per sale, so that per decision only its six arguments
 * are (ioredis's own script commands subclass Command the same way). `args` holds the whole command, unprefixed, for
 * ioredis's bookkeeping; the bytes sent are the same as `redis.evalsha(...)` would send.
 */
class AdmitCommand extends Command {
  constructor(private readonly batch: AdmitBatch) {
    super('evalsha', [], { replyEncoding: 'utf8' });
    // Set after construction: Command would copy them through Array#flat, and they are flat strings already.
    const k = batch.sale.keys;
    this.args = [ADMIT.sha, '4', k.meta, k.available, k.users, k.holds].concat(batch.args);
  }

  override toWritable(): string {
    const items = this.batch.args;
    let out = `*${1 + ADMIT_FIXED_ARGS + items.length}\r\n${this.batch.sale.head}`;
    for (const arg of items) out += bulk(arg);
    return out;
  }
}

/** Sales whose keys and admit head are kept built (admit is per attempt; a process serves a handful of sales). */
const KEY_CACHE_SIZE = 1024;

const unavailable = (error: unknown): never => {
  throw new GateUnavailable(error);
};

/** One item of ADMIT_LUA's answer as a verdict. */
const verdictOf = (reply: unknown): GateVerdict => {
  const n = Number(reply);
  if (n >= 0) return { kind: 'admitted', shard: n };
  if (n <= ADMIT_REPLY.KNOWN_BASE) return { kind: 'known', shard: ADMIT_REPLY.KNOWN_BASE - n };
  switch (n) {
    case ADMIT_REPLY.NOT_LOADED:
      return { kind: 'not-loaded' };
    case ADMIT_REPLY.SOLD_OUT:
      return { kind: 'refused', code: 'SOLD_OUT' };
    case ADMIT_REPLY.LIMIT_EXCEEDED:
      return { kind: 'refused', code: 'LIMIT_EXCEEDED' };
    case ADMIT_REPLY.SALE_NOT_STARTED:
      return { kind: 'refused', code: 'SALE_NOT_STARTED' };
    case ADMIT_REPLY.SALE_ENDED:
      return { kind: 'refused', code: 'SALE_ENDED' };
    default:
      throw new Error(`the gate script answered ${String(reply)}`);
  }
};

/** Eviction policies that may drop keys without a TTL: the gate's keys have none and must never vanish silently. */
const EVICTING_POLICIES = ['allkeys-lru', 'allkeys-lfu', 'allkeys-random'];

export class UnsafeRedisConfiguration extends Error {}

const LOAD_CHUNK = 10_000;

/**
 * The Redis gate. The admits of one event-loop turn go to Redis together: one EVALSHA per sale and turn (at most
 * MAX_ADMIT_BATCH decisions each), decided in call order inside the script and answered to each caller on its own,
 * so a spike costs Redis and this process one command per turn rather than one per decision. The script body is
 * sent again, as EVAL, only when Redis answers NOSCRIPT, e.g. after a restart. Commands fail fast while Redis is
 * unreachable (no offline queue): a paused gate answers 503 rather than queueing a spike in memory; a failed call
 * answers every decision in it with GateUnavailable.
 */
export class RedisGate implements EligibilityGate {
  /** The ioredis options every gate connection uses (also what row 4 of the benchmark gives its raw-EVALSHA baseline). */
  static readonly CLIENT_OPTIONS: Readonly<RedisOptions> = { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 };

  private readonly sales = new Map<string, SaleAdmit>();
  /** This turn's admits, per sale, not sent yet. */
  private readonly pending = new Map<string, AdmitBatch>();
  private flushScheduled = false;
  private readonly flushPending = (): void => {
    this.flushScheduled = false;
    this.sendPending();
  };

  private constructor(private readonly redis: Redis) {}

  static async connect(url: string, options: RedisOptions = {}): Promise<RedisGate> {
    const redis = new Redis(url, { ...RedisGate.CLIENT_OPTIONS, ...options });
    redis.on('error', () => undefined); // surfaced per command as GateUnavailable; reconnects on its own
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

  private saleOf(saleId: string): SaleAdmit {
    let sale = this.sales.get(saleId);
    if (sale === undefined) {
      if (this.sales.size >= KEY_CACHE_SIZE) this.sales.clear();
      sale = saleAdmit(saleId, this.redis.options.keyPrefix ?? '');
      this.sales.set(saleId, sale);
    }
    return sale;
  }

  /** EVALSHA, and EVAL (which also caches the script) when Redis does not know the sha. Any failure: GateUnavailable. */
  private evalScript(s: LuaScript, numKeys: number, args: readonly (string | number)[]): Promise<unknown> {
    this.sendPending();
    return this.redis
      .evalsha(s.sha, numKeys, ...args)
      .catch((error: unknown) => (isNoScript(error) ? this.redis.eval(s.lua, numKeys, ...args).catch(unavailable) : unavailable(error)));
  }

  private async run<T>(op: () => Promise<T>): Promise<T> {
    this.sendPending();
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

  admit(r: AdmitRequest): Promise<GateVerdict> {
    let batch = this.pending.get(r.saleId);
    if (batch === undefined) {
      batch = { sale: this.saleOf(r.saleId), args: [], callers: [] };
      this.pending.set(r.saleId, batch);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flushPending);
      }
    }
    batch.args.push(r.userId, r.reservationId, String(r.quantity), String(r.now), String(r.startShard), r.takeStock ? '1' : '0');
    const verdict = new Promise<GateVerdict>((resolve, reject) => batch.callers.push({ resolve, reject }));
    if (batch.callers.length >= MAX_ADMIT_BATCH) {
      this.pending.delete(r.saleId);
      this.send(batch);
    }
    return verdict;
  }

  /**
   * Sends this turn's admits now. Every other command calls it first, so that commands reach Redis in the order
   * they were called (an admit called before a release of the same reservation is decided before it).
   */
  private sendPending(): void {
    if (this.pending.size === 0) return;
    const batches = [...this.pending.values()];
    this.pending.clear();
    for (const batch of batches) this.send(batch);
  }

  /** One batch as one EVALSHA (EVAL after NOSCRIPT: the script did not run); each caller gets its own verdict. */
  private send(batch: AdmitBatch): void {
    const answer = (reply: unknown): void => {
      const answers = reply as unknown[];
      if (!Array.isArray(answers) || answers.length !== batch.callers.length) {
        const error = new Error(`the gate script answered ${String(reply)} to ${batch.callers.length} decisions`);
        for (const caller of batch.callers) caller.reject(error);
        return;
      }
      batch.callers.forEach((caller, i) => {
        try {
          caller.resolve(verdictOf(answers[i]));
        } catch (error) {
          caller.reject(error);
        }
      });
    };
    const fail = (error: unknown): void => {
      for (const caller of batch.callers) caller.reject(new GateUnavailable(error));
    };
    const k = batch.sale.keys;
    (this.redis.sendCommand(new AdmitCommand(batch)) as Promise<unknown>).then(answer, (error: unknown) =>
      isNoScript(error) ? this.redis.eval(ADMIT.lua, 4, k.meta, k.available, k.users, k.holds, ...batch.args).then(answer, fail) : fail(error),
    );
  }

  async release(saleId: string, reservationId: string): Promise<void> {
    const k = this.saleOf(saleId).keys;
    await this.evalScript(RELEASE, 3, [k.available, k.users, k.holds, reservationId]);
  }

  async correct(saleId: string, shard: number, available: number): Promise<void> {
    await this.evalScript(CORRECT, 1, [this.saleOf(saleId).keys.available, shard, available]);
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
    this.sendPending();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
