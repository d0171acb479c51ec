-- Reads registry entries for a set of game ids in one round trip.
-- ARGV: prefix, game_id... ; returns one entry JSON (or false) per id.
local p = ARGV[1]

-- include lib/keys.lua

local games, ids = key(p, 'games'), key(p, 'game_ids')
local out = {}
for i = 2, #ARGV do
  local slug = redis.call('HGET', ids, ARGV[i])
  out[i - 1] = slug and redis.call('HGET', games, slug) or false
end
return out
