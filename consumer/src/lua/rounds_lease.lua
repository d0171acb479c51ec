-- Before a publication attempt that comes late (a retry while the publisher is failing, or a
-- batch that waited), checks for each version the caller is about to publish that it still
-- may: it holds the round's publication lease (renewed here), or the lease is free and the
-- version is still the round's newest and unpublished (the lease is taken again). Otherwise a
-- newer version overtook it, or another process published it: publishing it now would put it
-- after a newer one, so it is dropped (coalesced).
-- ARGV: prefix, owner, lease_ms, then round_id, lsn per version
-- Returns one integer per version: 1 publish, 0 drop.
local p, owner, lease_ms = ARGV[1], ARGV[2], ARGV[3]

-- include lib/keys.lua
-- include lib/publication_lease.lua

local now = lease_clock()

local function may_publish(id, lsn)
  local rv = key(p, 'round_version', id)
  local cur = redis.call('HMGET', rv, 'lsn', 'pub', 'lease', 'until')
  if not lease_live(cur[3], cur[4], now) and (cur[1] ~= lsn or is_published(cur[2], lsn)) then
    return false
  end
  local taken = lease_taken(cur[3], cur[4], lsn, owner, lease_ms, now)
  if not taken then return false end
  redis.call('HSET', rv, unpack(taken))
  return true
end

local out = {}
for i = 4, #ARGV, 2 do
  out[#out + 1] = may_publish(ARGV[i], ARGV[i + 1]) and 1 or 0
end
return out
