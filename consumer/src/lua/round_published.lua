-- Records that the live publication of a round version completed, so a redelivery of the
-- same event does not publish it again.
-- ARGV: prefix, round_id, lsn
local rv = ARGV[1] .. 'rv:' .. ARGV[2]
local lsn = ARGV[3]
local cur = redis.call('HMGET', rv, 'lsn', 'pub')
if cur[1] == lsn and cur[2] ~= lsn then
  redis.call('HSET', rv, 'pub', lsn)
end
return {'applied', 0}
