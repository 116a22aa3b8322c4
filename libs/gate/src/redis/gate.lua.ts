/**
 * The gate's decision as one Lua script: it runs atomically inside Redis, so check-and-decrement can never
 * interleave with another instance's. KEYS: meta, available, users, holds. ARGV: userId, reservationId, quantity,
 * now, startShard, takeStock ('1' or '0'). A hold is stored as "shard:quantity:taken:userId". Running it twice for
 * one reservation id answers KNOWN the second time: no second effect, which matters because a client may resend a
 * command after a reconnect.
 *
 * The answer is one integer (see ADMIT_REPLY), not a table: it is the cheapest reply to build in Lua, to send and to
 * parse. The hot path is seven commands: HMGET of the terms (an absent meta hash, i.e. a sale never loaded or lost
 * with Redis, answers all nils: NOT_LOADED), the hold, the buyer's count, the first shard with stock, then three
 * writes. The quantity is written as the caller sent it (a positive integer's decimal digits) and a shard number is
 * formatted once: Redis formats every Lua number it is handed as a command argument.
 */
export const ADMIT_LUA = `
local meta = redis.call('HMGET', KEYS[1], 'startsAt', 'endsAt', 'perUserLimit', 'shards')
if not meta[1] then return -1 end
local held = redis.call('HGET', KEYS[4], ARGV[2])
if held then return -10 - tonumber(string.match(held, '^(%d+):')) end
local now = tonumber(ARGV[4])
if now < tonumber(meta[1]) then return -4 end
if now >= tonumber(meta[2]) then return -5 end
local qty = tonumber(ARGV[3])
local used = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
if used + qty > tonumber(meta[3]) then return -3 end
local shards = tonumber(meta[4])
local start = tonumber(ARGV[5])
for i = 0, shards - 1 do
  local shard = (start + i) % shards
  local field = tostring(shard)
  if tonumber(redis.call('HGET', KEYS[2], field) or '0') >= qty then
    if ARGV[6] == '1' then redis.call('HINCRBY', KEYS[2], field, '-' .. ARGV[3]) end
    redis.call('HINCRBY', KEYS[3], ARGV[1], ARGV[3])
    redis.call('HSET', KEYS[4], ARGV[2], field .. ':' .. ARGV[3] .. ':' .. ARGV[6] .. ':' .. ARGV[1])
    return shard
  end
end
return -2
`;

/**
 * ADMIT_LUA's integer answer: a shard (≥ 0) when admitted there; KNOWN_BASE − shard (≤ −10) when this reservation
 * was admitted before, on that shard; otherwise one of the negative codes below.
 */
export const ADMIT_REPLY = {
  NOT_LOADED: -1,
  SOLD_OUT: -2,
  LIMIT_EXCEEDED: -3,
  SALE_NOT_STARTED: -4,
  SALE_ENDED: -5,
  KNOWN_BASE: -10,
} as const;

/** Gives a hold back. KEYS: available, users, holds. ARGV: reservationId. Idempotent: a second call finds no hold. */
export const RELEASE_LUA = `
local held = redis.call('HGET', KEYS[3], ARGV[1])
if not held then return 0 end
local shard, qty, taken, user = string.match(held, '^(%d+):(%d+):([01]):(.*)$')
if taken == '1' then redis.call('HINCRBY', KEYS[1], shard, tonumber(qty)) end
local left = redis.call('HINCRBY', KEYS[2], user, -tonumber(qty))
if left <= 0 then redis.call('HDEL', KEYS[2], user) end
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
`;

/** Lowers a shard's count to the store's truth. KEYS: available. ARGV: shard, available. */
export const CORRECT_LUA = `
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local truth = tonumber(ARGV[2])
if truth < current then redis.call('HSET', KEYS[1], ARGV[1], truth) end
return 1
`;
