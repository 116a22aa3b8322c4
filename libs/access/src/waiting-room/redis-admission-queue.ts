import Redis, { RedisOptions } from 'ioredis';
import { Admission, AdmissionQueue, AdmitRequest, JoinOutcome, JoinRequest, LivePlace, NoPlace } from './admission-queue.port';
import { ADMIT_LUA, JOIN_LUA, PLACE_LUA, TURNED_AWAY_LUA } from './admission-queue.lua';

/** How long the pace key outlives its last admission: long enough for any pause in a sale, short enough to vanish. */
const PACE_RETAIN_MS = 24 * 3_600_000;

/** One sale's keys share a hash tag, so the scripts stay valid on a Redis Cluster. */
const keysOf = (saleId: string) => ({
  users: `waiting-room:{${saleId}}:users`,
  waiting: `waiting-room:{${saleId}}:waiting`,
  seq: `waiting-room:{${saleId}}:seq`,
  ips: `waiting-room:{${saleId}}:ips`,
  pace: `waiting-room:{${saleId}}:pace`,
  from: `waiting-room:{${saleId}}:from`,
});

type Reply = string[];

interface WaitingRoomCommands {
  waitingRoomJoin(users: string, waiting: string, seq: string, ips: string, pace: string, from: string, ...args: string[]): Promise<Reply>;
  waitingRoomTurnedAway(from: string, ips: string, userId: string): Promise<number>;
  waitingRoomPlace(users: string, waiting: string, ...args: string[]): Promise<Reply>;
  waitingRoomAdmit(waiting: string, users: string, pace: string, ...args: string[]): Promise<Reply>;
}

const placeOf = (reply: Reply): LivePlace | NoPlace => {
  const [kind, seq, joinedAt, last] = reply;
  if (kind === 'waiting') return { kind, seq: Number(seq), joinedAt: Number(joinedAt), position: Number(last) };
  if (kind === 'admitted') return { kind, seq: Number(seq), joinedAt: Number(joinedAt), admittedAt: Number(last) };
  return { kind: 'none' };
};

/**
 * The line in Redis, shared by every api replica: each step is one atomic script, so two replicas' pumps never
 * admit the same user twice nor faster than the pace (it lives in Redis too).
 */
export class RedisAdmissionQueue implements AdmissionQueue {
  private constructor(private readonly redis: Redis & WaitingRoomCommands) {}

  static connect(url: string, options: RedisOptions = {}): RedisAdmissionQueue {
    const redis = new Redis(url, { maxRetriesPerRequest: 1, ...options }) as Redis & WaitingRoomCommands;
    // defineCommand sends EVALSHA and falls back to EVAL on NOSCRIPT.
    redis.defineCommand('waitingRoomJoin', { numberOfKeys: 6, lua: JOIN_LUA });
    redis.defineCommand('waitingRoomTurnedAway', { numberOfKeys: 2, lua: TURNED_AWAY_LUA });
    redis.defineCommand('waitingRoomPlace', { numberOfKeys: 2, lua: PLACE_LUA });
    redis.defineCommand('waitingRoomAdmit', { numberOfKeys: 3, lua: ADMIT_LUA });
    return new RedisAdmissionQueue(redis);
  }

  async join(r: JoinRequest): Promise<JoinOutcome> {
    const k = keysOf(r.saleId);
    const reply = await this.redis.waitingRoomJoin(k.users, k.waiting, k.seq, k.ips, k.pace, k.from, r.userId, r.ipKey, String(r.now), String(r.admittedTtlMs), String(r.maxTicketsPerIp), String(r.retainMs));
    if (reply[0] === 'ip-limited') return { kind: 'ip-limited' };
    return placeOf(reply) as LivePlace;
  }

  async place(saleId: string, userId: string, seq: number, now: number, admittedTtlMs: number): Promise<LivePlace | NoPlace> {
    const k = keysOf(saleId);
    const place = placeOf(await this.redis.waitingRoomPlace(k.users, k.waiting, userId, String(now), String(admittedTtlMs)));
    return place.kind !== 'none' && place.seq === seq ? place : { kind: 'none' };
  }

  async admit({ saleId, now, intervalMs, maxCatchUpMs }: AdmitRequest): Promise<Admission[]> {
    const k = keysOf(saleId);
    const reply = await this.redis.waitingRoomAdmit(k.waiting, k.users, k.pace, String(now), String(intervalMs), String(maxCatchUpMs), String(PACE_RETAIN_MS));
    const admitted: Admission[] = [];
    for (let i = 0; i + 2 < reply.length; i += 3) {
      admitted.push({ userId: reply[i] as string, seq: Number(reply[i + 1]), joinedAt: Number(reply[i + 2]), admittedAt: now });
    }
    return admitted;
  }

  turnedAwayAtJoinAddress(saleId: string, userId: string): Promise<number> {
    const k = keysOf(saleId);
    return this.redis.waitingRoomTurnedAway(k.from, k.ips, userId);
  }

  length(saleId: string): Promise<number> {
    return this.redis.zcard(keysOf(saleId).waiting);
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
