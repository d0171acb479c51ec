-- Reads registry entries for a set of game ids in one round trip, with the registry's revision.
-- ARGV: prefix, game_id... ; returns the revision ('' before the first game), then one entry
-- JSON (or false) per id.
local p = ARGV[1]

-- include lib/keys.lua

local games, ids = key(p, 'games'), key(p, 'game_ids')
local out = {redis.call('GET', key(p, 'games_revision')) or ''}
for i = 2, #ARGV do
  local slug = redis.call('HGET', ids, ARGV[i])
  out[i] = slug and redis.call('HGET', games, slug) or false
end
return out
