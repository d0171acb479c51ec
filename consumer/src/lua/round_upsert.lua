-- Applies a rounds c/u/r event. LSNs arrive zero-padded to 20 digits so that string
-- comparison orders them (Lua numbers lose precision above 2^53).
-- ARGV: prefix, op, round_id, lsn, slug, type, round_json, history_max, version_ttl
-- Returns {status, publish}: status applied|duplicate|stale; publish 1 when the live
-- publication of this event is still owed.
local p, op, id, lsn = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local slug, typ, json = ARGV[5], ARGV[6], ARGV[7]
local max, ttl = tonumber(ARGV[8]), ARGV[9]
local live = op == 'c' or op == 'u'

local truncated = redis.call('GET', p .. 'truncated_lsn')
if truncated and lsn <= truncated then return {'stale', 0} end

local rv = p .. 'rv:' .. id
local cur = redis.call('HMGET', rv, 'lsn', 'op', 'pub', 'g', 't')
if cur[1] then
  if lsn < cur[1] then return {'stale', 0} end
  if lsn == cur[1] then
    local owed = (cur[2] == 'c' or cur[2] == 'u') and cur[3] ~= lsn
    return {'duplicate', owed and 1 or 0}
  end
  if cur[4] then redis.call('ZREMRANGEBYSCORE', p .. 'h:game:' .. cur[4], id, id) end
  if cur[5] then redis.call('ZREMRANGEBYSCORE', p .. 'h:type:' .. cur[5], id, id) end
end

for _, key in ipairs({p .. 'h:game:' .. slug, p .. 'h:type:' .. typ}) do
  redis.call('ZREMRANGEBYSCORE', key, id, id)
  redis.call('ZADD', key, id, json)
  redis.call('ZREMRANGEBYRANK', key, 0, -(max + 1))
  redis.call('SADD', p .. 'h:keys', key)
end
redis.call('HSET', rv, 'lsn', lsn, 'op', op, 'g', slug, 't', typ)
redis.call('EXPIRE', rv, ttl)
return {'applied', live and 1 or 0}
