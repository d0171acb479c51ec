-- Applies a games delete to the registry.
-- ARGV: prefix, game_id, lsn
local p, id, lsn = ARGV[1], ARGV[2], ARGV[3]

-- include lib/keys.lua
-- include lib/game_version.lua
-- include lib/revision.lua

local superseded = game_event_superseded(p, id, lsn)
if superseded then return {superseded, 0} end

local games, ids = key(p, 'games'), key(p, 'game_ids')
local slug = redis.call('HGET', ids, id)
if slug then
  redis.call('HDEL', games, slug)
  redis.call('HDEL', ids, id)
end
redis.call('SET', key(p, 'game_version', id), lsn)
redis.call('SET', key(p, 'games_revision'), new_revision(p))
return {'applied', 0}
