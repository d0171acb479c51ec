-- A new revision value (inlined by embed_lua.sh where a script says so, after lib/keys.lua):
-- the Redis time and a counter, so it is unique even across a Redis restart that lost recent
-- writes, where a counter alone could come back to a value a reader has cached.
local function new_revision(prefix)
  local now = redis.call('TIME')
  return now[1] .. '.' .. now[2] .. '.' .. redis.call('INCR', key(prefix, 'history_revision_seq'))
end
