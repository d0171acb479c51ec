-- Applies a rounds delete. The event carries only the key, so the histories to clean come
-- from the version hash, or every history when the version has expired.
-- ARGV: prefix, round_id, lsn, version_ttl
local p, id, lsn, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local truncated = redis.call('GET', p .. 'truncated_lsn')
if truncated and lsn <= truncated then return {'stale', 0} end

local rv = p .. 'rv:' .. id
local cur = redis.call('HMGET', rv, 'lsn', 'g', 't')
if cur[1] and lsn < cur[1] then return {'stale', 0} end
if cur[1] and lsn == cur[1] then return {'duplicate', 0} end

local keys
if cur[2] and cur[3] then
  keys = {p .. 'h:game:' .. cur[2], p .. 'h:type:' .. cur[3]}
else
  keys = redis.call('SMEMBERS', p .. 'h:keys')
end
for _, key in ipairs(keys) do
  redis.call('ZREMRANGEBYSCORE', key, id, id)
end
redis.call('HDEL', rv, 'g', 't')
redis.call('HSET', rv, 'lsn', lsn, 'op', 'd')
redis.call('EXPIRE', rv, ttl)
return {'applied', 0}
