-- Applies a rounds truncate: every history is emptied; events at or below this LSN are
-- ignored from now on.
-- ARGV: prefix, lsn
local p, lsn = ARGV[1], ARGV[2]

local truncated = redis.call('GET', p .. 'truncated_lsn')
if truncated and lsn < truncated then return {'stale', 0} end
if truncated and lsn == truncated then return {'duplicate', 0} end

for _, key in ipairs(redis.call('SMEMBERS', p .. 'h:keys')) do
  redis.call('DEL', key)
end
redis.call('DEL', p .. 'h:keys')
redis.call('SET', p .. 'truncated_lsn', lsn)
return {'applied', 0}
