-- Live publication straight into nchan's Redis storage (inlined by embed_lua.sh where a script
-- says so), in the layout nchan 1.3.6 reads on every backend instance: the same keys, fields
-- and pub/sub notice its own publisher writes, so a subscriber cannot tell the two apart, and
-- resume by message id, replicas and restarts work as with nchan's publisher. Written in the
-- script that applies the rounds, the publication is part of the apply: it happens exactly
-- once, in the order Redis runs the scripts, whatever the consumer processes do around it.
-- docs/design.md ("Live path") says why; t/e2e checks it against the real nchan.
--
-- A channel <id> lives in:
--   <channel>           hash: current_message, prev_message, time, max_stored_messages
--   <channel>:msg:<mid> hash per message: data, content_type, eventsource_event, compression,
--                       ttl, time, tag, prev_time, prev_tag, id, prev, next (the later one's id)
--   <channel>:messages  list of message ids, newest first, at most max_stored_messages
--   <channel>:pubsub    pub/sub channel: each message as a msgpack array, inline up to
--                       NCHAN_INLINE_MAX bytes of data, else a reference to its hash
-- with <channel> = '{channel:/' .. id .. '}'; a message id is '<Redis time s>:<tag>', the tag
-- counting messages of the channel within that second.
local NCHAN_CONTENT_TYPE = 'application/json'
-- nchan's own threshold (nchan_redis_publish_msgpacked_max_size): larger messages are read
-- from their hash by each instance rather than pushed through every subscribed connection.
local NCHAN_INLINE_MAX = 5 * 1024

-- Publishes data as the newest message of channel id. prefix is the channel key's start
-- ('{channel:/'), buffer how many messages the channel keeps, ttl their lifetime in seconds,
-- now_s Redis' time in seconds.
local function nchan_publish(prefix, buffer, ttl, id, data, now_s)
  local ch = prefix .. id .. '}'
  local msg_key = function(mid) return ch .. ':msg:' .. mid end
  local head = redis.call('HMGET', ch, 'current_message', 'max_stored_messages')
  local prev = head[1]
  local time, tag, prev_time, prev_tag = now_s, 0, 0, 0
  if prev then
    local t, g = prev:match('^(%d+):(%d+)$')
    prev_time, prev_tag = tonumber(t), tonumber(g)
    -- Ids only grow, even if Redis' clock steps back.
    if prev_time > time then time = prev_time end
    if prev_time == time then tag = prev_tag + 1 end
  end
  local mid = time .. ':' .. tag

  local channel_fields = {'current_message', mid, 'time', time}
  if prev then
    channel_fields[#channel_fields + 1] = 'prev_message'
    channel_fields[#channel_fields + 1] = prev
    -- An expired predecessor is not brought back as a hash without data.
    if redis.call('EXISTS', msg_key(prev)) == 1 then
      redis.call('HSET', msg_key(prev), 'next', mid)
    end
  end
  -- Instances learn a changed buffer length from the notice below.
  local resized = tonumber(head[2]) ~= buffer
  if resized then
    channel_fields[#channel_fields + 1] = 'max_stored_messages'
    channel_fields[#channel_fields + 1] = buffer
  end
  redis.call('HSET', ch, unpack(channel_fields))

  local fields = {'data', data, 'content_type', NCHAN_CONTENT_TYPE, 'eventsource_event', '',
                  'compression', 0, 'ttl', ttl, 'time', time, 'tag', tag,
                  'prev_time', prev_time, 'prev_tag', prev_tag, 'id', mid}
  if prev then
    fields[#fields + 1] = 'prev'
    fields[#fields + 1] = prev
  end
  redis.call('HSET', msg_key(mid), unpack(fields))
  redis.call('EXPIRE', msg_key(mid), ttl)

  local list = ch .. ':messages'
  redis.call('LPUSH', list, mid)
  local dropped = redis.call('LRANGE', list, buffer, -1)
  if #dropped > 0 then
    for _, old in ipairs(dropped) do redis.call('DEL', msg_key(old)) end
    redis.call('LTRIM', list, 0, buffer - 1)
  end
  -- Ids of messages that expired on their own leave the list's old end.
  while true do
    local oldest = redis.call('LINDEX', list, -1)
    if not oldest or redis.call('EXISTS', msg_key(oldest)) == 1 then break end
    redis.call('RPOP', list)
  end
  -- The channel lives as long as its newest message, and a second more.
  for _, k in ipairs({ch, list, ch .. ':subscribers', ch .. ':subscriber_counts'}) do
    redis.call('EXPIRE', k, ttl + 1)
  end

  local notice
  if #data < NCHAN_INLINE_MAX then
    notice = {'msg', ttl, time, tag, prev_time, prev_tag, data, NCHAN_CONTENT_TYPE, '', 0}
  else
    notice = {'msgkey', time, tag, msg_key(mid)}
  end
  if resized then
    notice[1] = 'max_msgs+' .. notice[1]
    table.insert(notice, 2, buffer)
  end
  redis.call('PUBLISH', ch .. ':pubsub', cmsgpack.pack(notice))
end

-- A message keeps up to this many bytes of rounds; nchan's publisher would take 1 MiB.
local NCHAN_MESSAGE_MAX = 256 * 1024

-- Publishes rounds (round objects, none holding a raw newline) to channel id as few messages
-- as fit, each its rounds joined by '\n', in order.
local function nchan_publish_rounds(prefix, buffer, ttl, id, rounds, now_s)
  local from, size = 1, 0
  for i, json in ipairs(rounds) do
    if i > from and size + 1 + #json > NCHAN_MESSAGE_MAX then
      nchan_publish(prefix, buffer, ttl, id, table.concat(rounds, '\n', from, i - 1), now_s)
      from, size = i, 0
    end
    size = size + (i > from and 1 or 0) + #json
  end
  nchan_publish(prefix, buffer, ttl, id, table.concat(rounds, '\n', from, #rounds), now_s)
end
