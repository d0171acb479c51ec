-- Applies a games c/u/r event to the registry; a slug change drops the old entry.
-- ARGV: prefix, game_id, lsn, slug, game_json
local p, id, lsn, slug, json = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]

local gv = p .. 'gv:' .. id
local cur = redis.call('GET', gv)
if cur and lsn < cur then return {'stale', 0} end
if cur and lsn == cur then return {'duplicate', 0} end

local old = redis.call('HGET', p .. 'game_ids', id)
if old and old ~= slug then redis.call('HDEL', p .. 'games', old) end
redis.call('HSET', p .. 'games', slug, json)
redis.call('HSET', p .. 'game_ids', id, slug)
redis.call('SET', gv, lsn)
return {'applied', 0}
