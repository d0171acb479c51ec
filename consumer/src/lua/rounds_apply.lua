-- Applies a batch of rounds events in stream order, in one script run: the same rules as one
-- event at a time (LSN per round, truncate LSN), with the writes to each history coalesced.
-- LSNs arrive zero-padded to 20 digits so that string comparison orders them (Lua numbers
-- lose precision above 2^53).
-- Every live version it applies is published to the clients in the same run: written into
-- nchan's storage as a message of its game's and of its type's channel (lib/nchan_storage.lua),
-- the rounds of one channel together, in stream order. Publishing it is thus part of applying it:
-- once, and in LSN order per round, across any number of consumer processes.
-- ARGV: prefix, history_max, version_ttl, owner, lease_ms, registry_rev (the games registry's
--       revision the slugs and types were read at, or * when no event needs a game),
--       nchan_prefix (nchan's channel key up to the channel id), nchan_buffer (messages a
--       channel keeps), nchan_ttl (their lifetime, s), then 7 per event: op, live,
--       round_id, lsn, slug, type, round_json (slug, type and json are empty for d and t;
--       round_id is empty for t). live is 1 when a version of this op is published to clients
--       (the contract's op table decides, not this script), else 0. owner identifies the
--       calling process's publication leases.
-- Returns one {status, publish} per event: status applied|duplicate|stale; publish concerns
-- the event's NATS publication, made by the caller: 1 when it is owed and the caller now holds
-- the round's lease, 2 when it is owed but another process holds the lease (that one publishes
-- an older version first; the caller retries later), 0 when nothing is owed. The read model
-- and nchan are written either way.
local p, max, ttl, owner, lease_ms, registry_rev, nchan_prefix, nchan_buffer, nchan_ttl =
  ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8]),
  tonumber(ARGV[9])
local FIRST, STRIDE = 10, 7

-- include lib/keys.lua
-- include lib/publication_lease.lua
-- include lib/revision.lua
-- include lib/nchan_storage.lua

-- The games registry must be the one the caller resolved the batch's names at: a game changed
-- since then, and the caller resolves them again (games_lookup.lua gives the revision).
if registry_rev ~= '*' and (redis.call('GET', key(p, 'games_revision')) or '') ~= registry_rev then
  return redis.error_reply('REGISTRY_CHANGED a game changed since the names were read')
end

-- The batch's live rounds per nchan channel, in stream order, published at the end.
local live_rounds, live_channels = {}, {}
local function publish_live(slug, typ, json)
  for _, channel in ipairs({'game.' .. slug, 'type.' .. typ}) do
    if not live_rounds[channel] then
      live_rounds[channel] = {}
      live_channels[#live_channels + 1] = channel
    end
    table.insert(live_rounds[channel], json)
  end
end

local keys_set = key(p, 'histories')
local truncated = redis.call('GET', key(p, 'truncated_lsn'))
local now = lease_clock()

-- Appends the lease fields to fields when the caller may take the round's lease: 1 then,
-- 2 when another process holds it.
local function claim_publication(fields, lease, lease_until, lsn)
  local taken = lease_taken(lease, lease_until, lsn, owner, lease_ms, now)
  if not taken then return 2 end
  for _, v in ipairs(taken) do fields[#fields + 1] = v end
  return 1
end

-- History changes of this batch, per key, written at the end (or before a delete or truncate
-- reads the histories): members to add, by round id, and round ids to remove from what the
-- key held before the batch. Removing a round also drops its pending member, and adding
-- comes after removing, so the final state is the one of applying the events one by one.
local pending, removed = {}, {}
-- Histories this batch changed, each given a new revision at the end: nginx serves a history
-- answer it rendered again as long as the revision it was rendered at is the current one.
local changed = {}
local function remove(history, id)
  removed[history] = removed[history] or {}
  removed[history][tonumber(id)] = true
  if pending[history] then pending[history][id] = nil end
end
-- New rounds have ids above everything a key holds, so one range read per key usually finds
-- nothing to remove, where a removal per round and key would cost a call each.
local function remove_pending_ids(history, ids)
  local low, high
  for id in pairs(ids) do
    if not low or id < low then low = id end
    if not high or id > high then high = id end
  end
  if not low then return end
  local count = 0
  for _ in pairs(ids) do count = count + 1 end
  -- An old round updated beside new ones spans most of the key: remove one by one then.
  if redis.call('ZCOUNT', history, low, high) > 2 * count then
    for id in pairs(ids) do redis.call('ZREMRANGEBYSCORE', history, id, id) end
    return
  end
  local found = redis.call('ZRANGEBYSCORE', history, low, high, 'WITHSCORES')
  local stale = {}
  for i = 1, #found, 2 do
    if ids[tonumber(found[i + 1])] then stale[#stale + 1] = found[i] end
  end
  if #stale > 0 then redis.call('ZREM', history, unpack(stale)) end
end
local function flush()
  for history, ids in pairs(removed) do
    remove_pending_ids(history, ids)
    changed[history] = true
  end
  for history, members in pairs(pending) do
    changed[history] = true
    -- At most BATCH_SIZE (<= 1000) members: within unpack()'s limit of 8000 values.
    local args = {}
    for id, json in pairs(members) do
      args[#args + 1] = id
      args[#args + 1] = json
    end
    if #args > 0 then
      redis.call('ZADD', history, unpack(args))
    end
    -- Trimming once per batch keeps at least the newest history_max, as per event would.
    redis.call('ZREMRANGEBYRANK', history, 0, -(max + 1))
    redis.call('SADD', keys_set, history)
  end
  pending, removed = {}, {}
end

-- The version hash keeps the event's live flag: a redelivered copy owes the NATS publication
-- of the version it finds there, whatever op it carries itself. Its field nchan is 1 once the
-- version went to nchan; a version without it was applied by a consumer of before this script
-- published to nchan, and is published now unless its NATS publication (made after nchan's
-- then) is recorded.
local function upsert(op, live, id, lsn, slug, typ, json)
  if truncated and lsn <= truncated then return {'stale', 0} end
  local rv = key(p, 'round_version', id)
  local cur = redis.call('HMGET', rv, 'lsn', 'live', 'pub', 'g', 't', 'lease', 'until', 'nchan')
  local old_game, old_type
  if cur[1] then
    if lsn < cur[1] then return {'stale', 0} end
    if lsn == cur[1] then
      if cur[2] ~= '1' or is_published(cur[3], lsn) then return {'duplicate', 0} end
      local fields = {}
      if cur[8] ~= '1' then
        publish_live(slug, typ, json)
        fields = {'nchan', '1'}
      end
      local publish = claim_publication(fields, cur[6], cur[7], lsn)
      if #fields > 0 then redis.call('HSET', rv, unpack(fields)) end
      return {'duplicate', publish}
    end
    old_game = cur[4] and key(p, 'history_game', cur[4])
    old_type = cur[5] and key(p, 'history_type', cur[5])
    if old_game then remove(old_game, id) end
    if old_type then remove(old_type, id) end
  end
  -- Also without a version (expired): the round may still sit in its histories.
  for _, history in ipairs({key(p, 'history_game', slug), key(p, 'history_type', typ)}) do
    if history ~= old_game and history ~= old_type then remove(history, id) end
    pending[history] = pending[history] or {}
    pending[history][id] = json
  end
  local fields = {'lsn', lsn, 'op', op, 'live', live, 'nchan', live, 'g', slug, 't', typ}
  local publish = 0
  if live == '1' then
    publish_live(slug, typ, json)
    publish = claim_publication(fields, cur[6], cur[7], lsn)
  end
  redis.call('HSET', rv, unpack(fields))
  redis.call('EXPIRE', rv, ttl)
  return {'applied', publish}
end

-- The event carries only the key, so the histories to clean come from the version hash, or
-- every history when the version has expired.
local function delete(op, id, lsn)
  if truncated and lsn <= truncated then return {'stale', 0} end
  local rv = key(p, 'round_version', id)
  local cur = redis.call('HMGET', rv, 'lsn', 'g', 't')
  if cur[1] and lsn < cur[1] then return {'stale', 0} end
  if cur[1] and lsn == cur[1] then return {'duplicate', 0} end
  flush()
  local keys
  if cur[2] and cur[3] then
    keys = {key(p, 'history_game', cur[2]), key(p, 'history_type', cur[3])}
  else
    keys = redis.call('SMEMBERS', keys_set)
  end
  for _, history in ipairs(keys) do
    redis.call('ZREMRANGEBYSCORE', history, id, id)
    changed[history] = true
  end
  -- A delete has no row to publish: no live flag, whatever the op table says.
  redis.call('HDEL', rv, 'g', 't', 'live')
  redis.call('HSET', rv, 'lsn', lsn, 'op', op)
  redis.call('EXPIRE', rv, ttl)
  return {'applied', 0}
end

-- Every history is emptied; events at or below this LSN are ignored from now on.
local function truncate(lsn)
  if truncated and lsn < truncated then return {'stale', 0} end
  if truncated and lsn == truncated then return {'duplicate', 0} end
  flush()
  for _, history in ipairs(redis.call('SMEMBERS', keys_set)) do
    redis.call('DEL', history)
    changed[history] = true
  end
  redis.call('DEL', keys_set)
  redis.call('SET', key(p, 'truncated_lsn'), lsn)
  truncated = lsn
  return {'applied', 0}
end

local out = {}
for i = FIRST, #ARGV, STRIDE do
  local op, live, id, lsn = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if op == 't' then
    out[#out + 1] = truncate(lsn)
  elseif op == 'd' then
    out[#out + 1] = delete(op, id, lsn)
  else
    out[#out + 1] = upsert(op, live, id, lsn, ARGV[i + 4], ARGV[i + 5], ARGV[i + 6])
  end
end
flush()
for _, channel in ipairs(live_channels) do
  nchan_publish_rounds(nchan_prefix, nchan_buffer, nchan_ttl, channel, live_rounds[channel],
                       math.floor(now / 1000))
end
-- Unique across Redis restarts that lose data, unlike a counter alone, which could come back
-- to a value an nginx worker has cached.
if next(changed) then
  local revision = new_revision(p)
  -- The field is the history's name without the prefix.
  for history in pairs(changed) do
    redis.call('HSET', key(p, 'history_revisions'), history:sub(#p + 1), revision)
  end
end
return out
