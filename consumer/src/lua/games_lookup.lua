-- Reads registry entries for a set of game ids in one round trip.
-- ARGV: prefix, game_id... ; returns one entry JSON (or false) per id.
local p = ARGV[1]
local out = {}
for i = 2, #ARGV do
  local slug = redis.call('HGET', p .. 'game_ids', ARGV[i])
  out[i - 1] = slug and redis.call('HGET', p .. 'games', slug) or false
end
return out
