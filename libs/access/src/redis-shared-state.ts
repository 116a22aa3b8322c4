import Redis from 'ioredis';
import { Blacklist, BlacklistEntry, BlacklistSubject, BlacklistTarget, InMemoryBlacklist, blacklistEntryName, parseBlacklistEntry } from './blacklist';
import { DegradationLevel, DegradationState, InMemoryDegradationState, isDegradationLevel } from './degradation';

const BLACKLIST_KEY = 'access:blacklist';
const DEGRADATION_KEY = 'access:degradation';
const CHANGED = 'access:changed';
/** Also re-read on a timer: a missed message (or a Redis that restarted) converges within this. */
const REFRESH_MS = 2000;

/**
 * Blacklist and degradation level shared by every api instance through Redis: the truth is a hash and a key, changes
 * are announced on a channel, and each instance answers `match()` / `current()` from a local copy it keeps in step
 * (so the hot path never waits for Redis).
 */
export class RedisSharedAccessState {
  readonly blacklist: Blacklist;
  readonly degradation: DegradationState;
  private readonly localBlacklist: InMemoryBlacklist;
  private readonly localDegradation = new InMemoryDegradationState();
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    now: () => number,
  ) {
    this.localBlacklist = new InMemoryBlacklist(now);
    this.blacklist = {
      add: async (target: BlacklistTarget, reason: string): Promise<BlacklistEntry> => {
        const entry = await this.localBlacklist.add(target, reason);
        await this.redis.hset(BLACKLIST_KEY, entry.entry, JSON.stringify(entry));
        await this.redis.publish(CHANGED, 'blacklist');
        return entry;
      },
      remove: async (entry: string): Promise<boolean> => {
        const name = blacklistEntryName(parseBlacklistEntry(entry));
        await this.localBlacklist.remove(name);
        const removed = (await this.redis.hdel(BLACKLIST_KEY, name)) > 0;
        await this.redis.publish(CHANGED, 'blacklist');
        return removed;
      },
      list: () => this.localBlacklist.list(),
      match: (subject: BlacklistSubject) => this.localBlacklist.match(subject),
    };
    this.degradation = {
      current: () => this.localDegradation.current(),
      set: async (level: DegradationLevel): Promise<void> => {
        await this.localDegradation.set(level);
        await this.redis.set(DEGRADATION_KEY, String(level));
        await this.redis.publish(CHANGED, 'degradation');
      },
      onChange: (listener) => this.localDegradation.onChange(listener),
    };
  }

  static async connect(url: string, now: () => number): Promise<RedisSharedAccessState> {
    const redis = new Redis(url, { maxRetriesPerRequest: 1 });
    const subscriber = new Redis(url);
    for (const client of [redis, subscriber]) client.on('error', () => undefined);
    const state = new RedisSharedAccessState(redis, subscriber, now);
    await state.refresh();
    await subscriber.subscribe(CHANGED);
    subscriber.on('message', () => void state.refresh().catch(() => undefined));
    state.timer = setInterval(() => void state.refresh().catch(() => undefined), REFRESH_MS);
    state.timer.unref();
    return state;
  }

  /** Makes the local copies equal to Redis. */
  async refresh(): Promise<void> {
    const [entries, level] = await Promise.all([this.redis.hgetall(BLACKLIST_KEY), this.redis.get(DEGRADATION_KEY)]);
    const wanted = new Map(Object.entries(entries).map(([name, json]) => [name, JSON.parse(json) as BlacklistEntry]));
    for (const e of await this.localBlacklist.list()) if (!wanted.has(e.entry)) await this.localBlacklist.remove(e.entry);
    for (const e of wanted.values()) {
      await this.localBlacklist.add(e.kind === 'user' ? { userId: e.value } : { ip: e.value }, e.reason);
    }
    const parsed = Number(level ?? 0);
    if (isDegradationLevel(parsed)) await this.localDegradation.set(parsed);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.allSettled([this.redis.quit(), this.subscriber.quit()]);
  }
}
