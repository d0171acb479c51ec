-- The record of the API key whose hash starts with an id (a token names its key by id only).
-- Read only; one round trip on a key cache miss.
--   KEYS[1]  the set of live key hashes (DATASTREAM_KEY_APIKEYS)
--   KEYS[2]  the name of a key's record without its hash (DATASTREAM_KEY_APIKEY, empty part):
--            a record is KEYS[2] .. hash, as the hashes are only known once scanned
--   ARGV[1]  the key id
-- Returns {hash, record fields} of the first live key found, or {}.
local cursor = '0'
repeat
    local r = redis.call('SSCAN', KEYS[1], cursor, 'MATCH', ARGV[1] .. '*', 'COUNT', 1000)
    cursor = r[1]
    for _, hash in ipairs(r[2]) do
        local record = redis.call('HGETALL', KEYS[2] .. hash)
        if #record > 0 then
            return {hash, record}
        end
    end
until cursor == '0'
return {}
