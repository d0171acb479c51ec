-- Applies a games c/u/r event to the registry; a slug change drops the old entry.
-- ARGV: prefix, game_id, lsn, slug, game_json
local p, id, lsn, slug, json = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]

-- include lib/keys.lua
-- include lib/game_version.lua
-- include lib/revision.lua

local superseded = game_event_superseded(p, id, lsn)
if superseded then return {superseded, 0} end

local games, ids = key(p, 'games'), key(p, 'game_ids')
local old = redis.call('HGET', ids, id)
if old and old ~= slug then redis.call('HDEL', games, old) end
redis.call('HSET', games, slug, json)
redis.call('HSET', ids, id, slug)
redis.call('SET', key(p, 'game_version', id), lsn)
redis.call('SET', key(p, 'games_revision'), new_revision(p))
return {'applied', 0}
