-- Publication lease of a round (inlined by embed_lua.sh where a script says so, after
-- lib/keys.lua): only the process holding it publishes versions of the round, so versions
-- applied by two consumer processes reach subscribers in LSN order. Key publication_lease of
-- the round id; value: the newest LSN the holder still has to publish (20 digits) followed by
-- the holder's owner id. The newest LSN keeps the lease while a later batch of the same
-- holder owes a newer version.
local LEASE_LSN_DIGITS = 20

local function lease_key(prefix, id)
  return key(prefix, 'publication_lease', id)
end

local function lease_owner(value)
  return value:sub(LEASE_LSN_DIGITS + 1)
end

-- Takes or renews owner's lease for version lsn; false when another owner holds it.
local function hold_lease(prefix, id, lsn, owner, lease_ms)
  local key = lease_key(prefix, id)
  local cur = redis.call('GET', key)
  if cur and lease_owner(cur) ~= owner then return false end
  if cur and cur:sub(1, LEASE_LSN_DIGITS) > lsn then lsn = cur:sub(1, LEASE_LSN_DIGITS) end
  redis.call('SET', key, lsn .. owner, 'PX', lease_ms)
  return true
end

-- Ends owner's lease once the newest version it owed is published.
local function release_lease(prefix, id, lsn, owner)
  local key = lease_key(prefix, id)
  local cur = redis.call('GET', key)
  if cur and lease_owner(cur) == owner and cur:sub(1, LEASE_LSN_DIGITS) <= lsn then
    redis.call('DEL', key)
  end
end

-- Whether version lsn is recorded as published: pub is the highest published LSN.
local function is_published(pub, lsn)
  return pub and pub >= lsn
end
