/**
 * The gate's decision as one Lua script: it runs atomically inside Redis, so check-and-decrement can never
 * interleave with another instance's. KEYS: meta, available, users, holds. ARGV: userId, reservationId, quantity,
 * now, startShard, takeStock ('1' or '0'). A hold is stored as "shard:quantity:taken:userId". Running it twice for one reservation id answers KNOWN the second time: no second effect, which
 * matters because a client may resend a command after a reconnect.
 */
export const ADMIT_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'NOT_LOADED'} end
local held = redis.call('HGET', KEYS[4], ARGV[2])
if held then return {'KNOWN', string.match(held, '^(%d+):')} end
local meta = redis.call('HMGET', KEYS[1], 'startsAt', 'endsAt', 'perUserLimit', 'shards')
local now = tonumber(ARGV[4])
if now < tonumber(meta[1]) then return {'SALE_NOT_STARTED'} end
if now >= tonumber(meta[2]) then return {'SALE_ENDED'} end
local qty = tonumber(ARGV[3])
local used = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
if used + qty > tonumber(meta[3]) then return {'LIMIT_EXCEEDED'} end
local shards = tonumber(meta[4])
local start = tonumber(ARGV[5])
for i = 0, shards - 1 do
  local shard = (start + i) % shards
  local available = tonumber(redis.call('HGET', KEYS[2], tostring(shard)) or '0')
  if available >= qty then
    if ARGV[6] == '1' then redis.call('HINCRBY', KEYS[2], tostring(shard), -qty) end
    redis.call('HINCRBY', KEYS[3], ARGV[1], qty)
    redis.call('HSET', KEYS[4], ARGV[2], shard .. ':' .. qty .. ':' .. ARGV[6] .. ':' .. ARGV[1])
    return {'ADMITTED', tostring(shard)}
  end
end
return {'SOLD_OUT'}
`;

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
