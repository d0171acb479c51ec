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
  local cur = redis.call('HMGET', rv, 'lsn', 'pub', 'lease')
  -- Nothing is written to a version that expired: the hash would then never expire.
  if cur[1] then
    -- pub only rises: a newer version applied meanwhile (by another process, waiting for this
    -- lease) is still owed, an older one is not.
    local fields = lease_released(cur[3], owner, lsn) or {}
    if not is_published(cur[2], lsn) then
      fields[#fields + 1] = 'pub'
      fields[#fields + 1] = lsn
    end
    if #fields > 0 then redis.call('HSET', rv, unpack(fields)) end
  end
end
return {'applied', 0}
