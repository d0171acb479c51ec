-- Version of a game in the registry (inlined by embed_lua.sh where a script says so, after
-- lib/keys.lua): key game_version of the game id holds the LSN of the last event applied to
-- it, so a redelivered or overtaken event leaves the registry as it is.

-- 'stale' or 'duplicate' when the event of the game at lsn is not to be applied, else nil.
local function game_event_superseded(prefix, id, lsn)
  local cur = redis.call('GET', key(prefix, 'game_version', id))
  if cur and lsn < cur then return 'stale' end
  if cur and lsn == cur then return 'duplicate' end
  return nil
end
