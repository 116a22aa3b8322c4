import type Redis from 'ioredis';
import { Lease, LeaseStore } from './lease-store';

const KEY_PREFIX = 'flash:lease:';

/** KEYS: lease, fence counter. ARGV: holder, ttl ms. Returns the fence, or false while another holder's lease runs. */
const ACQUIRE = `
local current = redis.call('GET', KEYS[1])
if current then
  local holder, fence = string.match(current, '^(.*)|(%d+)$')
  if holder == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(fence)
  end
  return false
end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. fence, 'PX', ARGV[2])
return fence
`;

/** KEYS: lease. ARGV: holder|fence, ttl ms (0: release). 1 when the lease was still this one. */
const EXTEND = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
`;

/**
 * Leases in Redis (REDIS_URL), for processes on any host: the lease is a key that expires on Redis's clock, its fence
 * a counter that only grows (INCR), both changed by one script each so that no two holders ever see the job free.
 * Redis must keep its data (AOF, `noeviction`, as infra/redis.conf sets): a lost counter would hand out fences again.
 */
export class RedisLeaseStore implements LeaseStore {
  private readonly prefix: string;

  /** `scope`: the store the jobs belong to (storeScope): deployments, or test runs, sharing one Redis never meet. */
  constructor(
    private readonly redis: Redis,
    scope: string,
    private readonly ownsConnection = true,
  ) {
    this.prefix = `${KEY_PREFIX}${scope}:`;
    // A failed call is answered by LeasedJob (retried next round; the watchdog stops the job): not ioredis' console noise.
    redis.on('error', () => undefined);
  }

  async acquire(job: string, holder: string, ttlMs: number): Promise<Lease | undefined> {
    if (holder.includes('|')) throw new Error(`a lease holder's name cannot contain "|": ${holder}`);
    const fence = (await this.redis.eval(ACQUIRE, 2, this.prefix + job, `${this.prefix}${job}:fence`, holder, String(ttlMs))) as number | null;
    return fence === null ? undefined : { job, holder, fence };
  }

  async renew(lease: Lease, ttlMs: number): Promise<boolean> {
    return (await this.redis.eval(EXTEND, 1, this.prefix + lease.job, `${lease.holder}|${lease.fence}`, String(ttlMs))) === 1;
  }

  async release(lease: Lease): Promise<void> {
    await this.redis.eval(EXTEND, 1, this.prefix + lease.job, `${lease.holder}|${lease.fence}`, '0');
  }

  async close(): Promise<void> {
    if (this.ownsConnection) this.redis.disconnect();
  }
}
