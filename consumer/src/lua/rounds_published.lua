-- Records that the live publications of a batch of round versions completed, so a
-- redelivery of the same event does not publish it again, and ends the caller's publication
-- lease of each round whose newest owed version is now published.
-- ARGV: prefix, owner, then round_id, lsn per publication
local p, owner = ARGV[1], ARGV[2]

-- include lib/keys.lua
-- include lib/publication_lease.lua

for i = 3, #ARGV, 2 do
  local id, lsn = ARGV[i], ARGV[i + 1]
  local rv = key(p, 'round_version', id)
  local cur = redis.call('HMGET', rv, 'lsn', 'pub')
  -- pub only rises: a newer version applied meanwhile (by another process, waiting for this
  -- lease) is still owed, an older one is not.
  if cur[1] and not is_published(cur[2], lsn) then
    redis.call('HSET', rv, 'pub', lsn)
  end
  release_lease(p, id, lsn, owner)
end
return {'applied', 0}
