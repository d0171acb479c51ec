-- Applies a games delete to the registry.
-- ARGV: prefix, game_id, lsn
local p, id, lsn = ARGV[1], ARGV[2], ARGV[3]

local gv = p .. 'gv:' .. id
local cur = redis.call('GET', gv)
if cur and lsn < cur then return {'stale', 0} end
if cur and lsn == cur then return {'duplicate', 0} end

local slug = redis.call('HGET', p .. 'game_ids', id)
if slug then
  redis.call('HDEL', p .. 'games', slug)
  redis.call('HDEL', p .. 'game_ids', id)
end
redis.call('SET', gv, lsn)
return {'applied', 0}
