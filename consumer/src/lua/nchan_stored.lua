-- Tells, for rounds whose earlier publication attempt may have reached nchan without its
-- answer reaching us (the process was killed, or the connection failed after the request
-- left), whether nchan's Redis storage already holds them: publishing them again would give
-- subscribers the same round twice. Reads nchan's own layout: a channel's message ids in
-- "<channel key>}:messages", newest first, each message's body in "<channel key>}:msg:<id>",
-- the rounds of one message joined by '\n'.
-- ARGV: nchan channel key prefix ("{channel:/"), how many of a channel's newest messages to
--       read at most, then channel id, round_json per round and channel
-- Returns one integer per round and channel: 1 stored, 0 not found.
local prefix, depth = ARGV[1], tonumber(ARGV[2])
local FIRST = 3

-- Channel id => { json => index of its answers }: each channel's messages are read once.
local wanted, out = {}, {}
for i = FIRST, #ARGV, 2 do
  local channel, json = ARGV[i], ARGV[i + 1]
  wanted[channel] = wanted[channel] or {}
  wanted[channel][json] = wanted[channel][json] or {}
  table.insert(wanted[channel][json], (i - FIRST) / 2 + 1)
  out[#out + 1] = 0
end

-- A whole round of body: between the body's ends or newlines, never part of a longer line.
local function holds(body, json)
  local from = 1
  while true do
    local s, e = body:find(json, from, true)
    if not s then return false end
    if (s == 1 or body:byte(s - 1) == 10) and (e == #body or body:byte(e + 1) == 10) then
      return true
    end
    from = s + 1
  end
end

for channel, rounds in pairs(wanted) do
  local key = prefix .. channel .. '}'
  local left = 0
  for _ in pairs(rounds) do left = left + 1 end
  for _, id in ipairs(redis.call('LRANGE', key .. ':messages', 0, depth - 1)) do
    local body = redis.call('HGET', key .. ':msg:' .. id, 'data')
    if body then
      for json, answers in pairs(rounds) do
        if holds(body, json) then
          for _, k in ipairs(answers) do out[k] = 1 end
          rounds[json] = nil
          left = left - 1
        end
      end
    end
    if left == 0 then break end
  end
end
return out
