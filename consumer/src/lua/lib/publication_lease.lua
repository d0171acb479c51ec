-- Publication lease of a round (inlined by embed_lua.sh where a script says so, after
-- lib/keys.lua): only the process holding it publishes versions of the round, so versions
-- applied by two consumer processes reach subscribers in LSN order. It lives in the round's
-- version hash, so that reading and writing it rides on the version's own HMGET and HSET:
-- field lease holds the newest LSN the holder still has to publish (20 digits) followed by the
-- holder's owner id, field until the Redis time in ms when it runs out ('' once ended).
-- The newest LSN keeps the lease while a later batch of the same holder owes a newer version.
local LEASE_LSN_DIGITS = 20

-- Redis' clock in ms, read once per script run.
local function lease_clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function lease_owner(value)
  return value:sub(LEASE_LSN_DIGITS + 1)
end

local function lease_live(value, until_ms, now)
  return value and value ~= '' and (tonumber(until_ms) or 0) > now
end

-- The lease fields that give owner the lease for version lsn, given the fields as read;
-- nil when another owner holds a live lease.
local function lease_taken(value, until_ms, lsn, owner, lease_ms, now)
  if lease_live(value, until_ms, now) then
    if lease_owner(value) ~= owner then return nil end
    local held = value:sub(1, LEASE_LSN_DIGITS)
    if held > lsn then lsn = held end
  end
  return {'lease', lsn .. owner, 'until', now + lease_ms}
end

-- The lease fields that end owner's lease once version lsn is published, or nil when the
-- lease is another's or owed for a newer version.
local function lease_released(value, owner, lsn)
  if value and value ~= '' and lease_owner(value) == owner and
      value:sub(1, LEASE_LSN_DIGITS) <= lsn then
    return {'lease', '', 'until', ''}
  end
  return nil
end

-- Whether version lsn is recorded as published: pub is the highest published LSN.
local function is_published(pub, lsn)
  return pub and pub >= lsn
end
