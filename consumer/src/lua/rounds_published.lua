-- Records that the live publications of a batch of round versions completed, so a
-- redelivery of the same event does not publish it again.
-- ARGV: prefix, then round_id, lsn per publication
local p = ARGV[1]
for i = 2, #ARGV, 2 do
  local rv, lsn = p .. 'rv:' .. ARGV[i], ARGV[i + 1]
  local cur = redis.call('HMGET', rv, 'lsn', 'pub')
  if cur[1] == lsn and cur[2] ~= lsn then
    redis.call('HSET', rv, 'pub', lsn)
  end
end
return {'applied', 0}
