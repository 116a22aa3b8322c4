/**
 * The waiting room's Lua scripts (Redis adapter). Per sale, under one hash tag:
 *   users   hash   userId → "seq:joinedAt:admittedAt" (admittedAt 0 while waiting)
 *   waiting zset   userId scored by seq: the line, in ticket order
 *   seq     string the last ticket number
 *   ips     hash   ip key → new tickets taken; "ip key!refused" → new tickets refused (ip-limited)
 *   from    hash   userId → the ip key their ticket was taken from
 *   pace    string the earliest time the next admission may happen
 */

/** The user's live place, if any (shared by JOIN and PLACE): {kind, seq, joinedAt, positionOrAdmittedAt}. */
const LIVE = `
local function live(users, waiting, user, now, ttl)
  local entry = redis.call('HGET', users, user)
  if not entry then return nil end
  local seq, joined, admitted = string.match(entry, '^(%d+):(%d+):(%d+)$')
  if admitted == '0' then
    local rank = redis.call('ZRANK', waiting, user)
    if rank then return {'waiting', seq, joined, tostring(rank + 1)} end
    return nil
  end
  if now < tonumber(admitted) + ttl then return {'admitted', seq, joined, admitted} end
  return nil
end
`;

/** KEYS users, waiting, seq, ips, pace, from; ARGV userId, ipKey, now, admittedTtlMs, maxTicketsPerIp, retainMs. */
export const JOIN_LUA = `${LIVE}
local now = tonumber(ARGV[3])
local found = live(KEYS[1], KEYS[2], ARGV[1], now, tonumber(ARGV[4]))
if found then return found end
local maxPerIp = tonumber(ARGV[5])
if maxPerIp > 0 then
  local taken = tonumber(redis.call('HGET', KEYS[4], ARGV[2]) or '0')
  if taken >= maxPerIp then
    redis.call('HINCRBY', KEYS[4], ARGV[2] .. '!refused', 1)
    return {'ip-limited'}
  end
  redis.call('HINCRBY', KEYS[4], ARGV[2], 1)
end
if redis.call('ZCARD', KEYS[2]) == 0 then
  local nextAt = tonumber(redis.call('GET', KEYS[5]) or '0')
  if nextAt < now then redis.call('SET', KEYS[5], ARGV[3], 'PX', ARGV[6]) end
end
local seq = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], ARGV[1], seq .. ':' .. ARGV[3] .. ':0')
redis.call('ZADD', KEYS[2], seq, ARGV[1])
redis.call('HSET', KEYS[6], ARGV[1], ARGV[2])
for _, i in ipairs({1, 2, 3, 4, 6}) do redis.call('PEXPIRE', KEYS[i], ARGV[6]) end
return {'waiting', tostring(seq), ARGV[3], tostring(redis.call('ZRANK', KEYS[2], ARGV[1]) + 1)}
`;

/** KEYS users, waiting; ARGV userId, now, admittedTtlMs. */
export const PLACE_LUA = `${LIVE}
return live(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])) or {'none'}
`;

/**
 * KEYS waiting, users, pace; ARGV now, intervalMs, maxCatchUpMs, retainMs. Pops, in ticket order, everyone whose turn
 * has come: the pace advances one interval per admission; an empty line resets it to now (no credit while idle).
 * Returns a flat list userId, seq, joinedAt per admission.
 */
export const ADMIT_LUA = `
local now = tonumber(ARGV[1])
local nextAt = tonumber(redis.call('GET', KEYS[3]) or '0')
if redis.call('ZCARD', KEYS[1]) == 0 then
  if nextAt < now then redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[4]) end
  return {}
end
local earliest = now - tonumber(ARGV[3])
if nextAt < earliest then nextAt = earliest end
local interval = tonumber(ARGV[2])
local out = {}
while nextAt <= now do
  local head = redis.call('ZPOPMIN', KEYS[1])
  if #head == 0 then break end
  local user = head[1]
  local entry = redis.call('HGET', KEYS[2], user) or ''
  local seq, joined = string.match(entry, '^(%d+):(%d+):')
  if seq then
    redis.call('HSET', KEYS[2], user, seq .. ':' .. joined .. ':' .. ARGV[1])
    out[#out + 1] = user
    out[#out + 1] = seq
    out[#out + 1] = joined
    nextAt = nextAt + interval
  end
end
redis.call('SET', KEYS[3], string.format('%.3f', nextAt), 'PX', ARGV[4])
return out
`;

/** KEYS from, ips; ARGV userId. The refusals counted against the address the user's ticket was taken from. */
export const TURNED_AWAY_LUA = `
local ip = redis.call('HGET', KEYS[1], ARGV[1])
if not ip then return 0 end
return tonumber(redis.call('HGET', KEYS[2], ip .. '!refused') or '0')
`;
