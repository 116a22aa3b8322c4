import IORedis from 'ioredis';
import type Redis from 'ioredis';
import type { StatusBoard } from '@flash/sagas';
import type { AppConfig } from '../config';
import { storeScope } from './lease-store';

const KEY_PREFIX = 'flash:status:';
/** A post older than this is gone from Redis: a worker that stopped posting stops being reported. */
const POST_TTL_MS = 60_000;

/**
 * The status board in Redis (REDIS_URL), for processes on several hosts: whichever worker runs the sagas posts their
 * status, and every api replica reads it (for /health/ready and /metrics), not only the ones that share its DATA_DIR.
 * Reads are answered from a copy refreshed in the background every `refreshMs`, so that a probe never waits on Redis.
 * Posts also go to the board `beside` it (the one in DATA_DIR) and reads take the newer of the two: while Redis is
 * down or was flushed, processes on one host still see each other, as they did before Redis was involved.
 */
export class RedisStatusBoard implements StatusBoard {
  private readonly copies = new Map<string, { status: unknown; reportedAt: number }>();
  private readonly watched = new Set<string>();
  private readonly timer: NodeJS.Timeout;

  private readonly prefix: string;

  /** `scope`: the store the posts are about (storeScope): deployments, or test runs, sharing one Redis never meet. */
  constructor(
    private readonly redis: Redis,
    scope: string,
    private readonly beside?: StatusBoard,
    refreshMs = 500,
    private readonly ownsConnection = true,
  ) {
    this.prefix = `${KEY_PREFIX}${scope}:`;
    // Failures are answered where they happen (a post dropped, the last copy kept): not ioredis' console noise.
    redis.on('error', () => undefined);
    this.timer = setInterval(() => void this.refresh(), refreshMs);
    this.timer.unref();
  }

  report(name: string, status: unknown, at: number): void {
    void this.redis.set(this.prefix + name, JSON.stringify({ status, reportedAt: at }), 'PX', POST_TTL_MS).catch(() => undefined);
    this.copies.set(name, { status, reportedAt: at });
    this.beside?.report(name, status, at);
  }

  reported(name: string): { status: unknown; reportedAt: number } | undefined {
    if (!this.watched.has(name)) {
      this.watched.add(name);
      void this.refresh();
    }
    const shared = this.copies.get(name);
    const local = this.beside?.reported(name);
    if (local === undefined) return shared;
    return shared === undefined || local.reportedAt > shared.reportedAt ? local : shared;
  }

  private async refresh(): Promise<void> {
    for (const name of this.watched) {
      const raw = await this.redis.get(this.prefix + name).catch(() => undefined);
      if (raw === undefined) continue; // unreachable: keep the last copy, its reportedAt tells how old it is
      if (raw === null) this.copies.delete(name);
      else this.copies.set(name, JSON.parse(raw) as { status: unknown; reportedAt: number });
    }
  }

  close(): void {
    clearInterval(this.timer);
    if (this.ownsConnection) this.redis.disconnect();
  }
}

/**
 * The status board of a process (the sagas' holder posting, an api replica reading): in Redis beside `local` (the one in
 * DATA_DIR) when REDIS_URL is set, so replicas on any host see it; else `local` alone.
 */
export const openStatusBoard = <Local extends StatusBoard & { close(): void }>(
  config: Pick<AppConfig, 'redisUrl' | 'eventStoreUrl' | 'dataDir'>,
  local: Local | undefined,
): (StatusBoard & { close(): void }) | Local | undefined =>
  config.redisUrl === undefined ? local : new RedisStatusBoard(new IORedis(config.redisUrl, { maxRetriesPerRequest: 1 }), storeScope(config), local);
