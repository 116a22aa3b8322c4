/**
 * The gate's decisions as one Lua script: it runs atomically inside Redis, so check-and-decrement can never
 * interleave with another instance's. It decides a BATCH of admits for one sale (its keys share a hash tag, so a
 * batch stays valid on a Redis Cluster), item after item, in order, each with the answer it would get alone at that
 * point: the adapter sends the admits of one event-loop turn as one call. KEYS: meta, available, users, holds.
 * ARGV, six per item, item after item: userId, reservationId, quantity, now, startShard, takeStock ('1' or '0').
 * A hold is stored as "shard:quantity:taken:userId". Admitting one reservation id twice (in one batch or in two)
 * answers KNOWN the second time: no second effect, which matters because a client may resend a command after a
 * reconnect.
 *
 * The answer is a table of integers, one per item (see ADMIT_REPLY): the cheapest reply to build in Lua, to send
 * and to parse. The terms are read once per batch (an absent meta hash, i.e. a sale never loaded or lost with
 * Redis, answers NOT_LOADED for every item), the items' holds and buyers' counts with one HMGET each, each shard's
 * count at most once; all of them are then kept in Lua tables, where later items see earlier items' effects (the
 * tables are asked first); the writes are gathered into one HSET per hash at the end. Nothing can run between those reads and writes (the script is atomic), so the end state is the one
 * per-item writes would leave, and a script error (none is expected past the first HMGET) comes before any write.
 * Counts are written as integers' decimal digits (string.format), as HINCRBY would leave them; quantities as the
 * caller sent them.
 */
export const ADMIT_LUA = `
local out = {}
local n = #ARGV / 6
local meta = redis.call('HMGET', KEYS[1], 'startsAt', 'endsAt', 'perUserLimit', 'shards')
if not meta[1] then
  for i = 1, n do out[i] = -1 end
  return out
end
local startsAt, endsAt, limit, shards = tonumber(meta[1]), tonumber(meta[2]), tonumber(meta[3]), tonumber(meta[4])
local rids, buyers = {}, {}
for i = 1, n do
  buyers[i] = ARGV[i * 6 - 5]
  rids[i] = ARGV[i * 6 - 4]
end
local heldBefore = redis.call('HMGET', KEYS[4], unpack(rids))
local usedBefore = redis.call('HMGET', KEYS[3], unpack(buyers))
local stock, stockDirty = {}, {}
local used, usedDirty = {}, {}
local newHolds, holdArgs = {}, {}
for i = 1, n do
  local b = (i - 1) * 6
  local user, rid = buyers[i], rids[i]
  local held = newHolds[rid] or heldBefore[i]
  local now = tonumber(ARGV[b + 4])
  if held then
    out[i] = -10 - tonumber(string.match(held, '^(%d+):'))
  elseif now < startsAt then
    out[i] = -4
  elseif now >= endsAt then
    out[i] = -5
  else
    local qty = tonumber(ARGV[b + 3])
    local u = used[user]
    if u == nil then
      u = tonumber(usedBefore[i] or '0')
      used[user] = u
    end
    if u + qty > limit then
      out[i] = -3
    else
      out[i] = -2
      local start = tonumber(ARGV[b + 5])
      for j = 0, shards - 1 do
        local shard = (start + j) % shards
        local field = tostring(shard)
        local a = stock[field]
        if a == nil then
          a = tonumber(redis.call('HGET', KEYS[2], field) or '0')
          stock[field] = a
        end
        if a >= qty then
          if ARGV[b + 6] == '1' then
            stock[field] = a - qty
            stockDirty[field] = true
          end
          used[user] = u + qty
          usedDirty[user] = true
          held = field .. ':' .. ARGV[b + 3] .. ':' .. ARGV[b + 6] .. ':' .. user
          newHolds[rid] = held
          holdArgs[#holdArgs + 1] = rid
          holdArgs[#holdArgs + 1] = held
          out[i] = shard
          break
        end
      end
    end
  end
end
if #holdArgs > 0 then
  local args = {}
  for field in pairs(stockDirty) do
    args[#args + 1] = field
    args[#args + 1] = string.format('%d', stock[field])
  end
  if #args > 0 then redis.call('HSET', KEYS[2], unpack(args)) end
  args = {}
  for user in pairs(usedDirty) do
    args[#args + 1] = user
    args[#args + 1] = string.format('%d', used[user])
  end
  redis.call('HSET', KEYS[3], unpack(args))
  redis.call('HSET', KEYS[4], unpack(holdArgs))
end
return out
`;

/**
 * ADMIT_LUA's answer per item: a shard (≥ 0) when admitted there; KNOWN_BASE − shard (≤ −10) when this reservation
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
