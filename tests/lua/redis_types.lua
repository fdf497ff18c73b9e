-- Every RESP2 -> Lua conversion, handed back to the client.
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('RPUSH', KEYS[1], 'a', 'b')
local status = redis.call('SET', KEYS[2], 'v')
local int = redis.call('STRLEN', KEYS[2])
local bulk = redis.call('GET', KEYS[2])
local null = redis.call('GET', 'missing-key-xyz')
local arr = redis.call('LRANGE', KEYS[1], 0, -1)
local empty = redis.call('LRANGE', 'missing-key-xyz', 0, -1)
local err = redis.pcall('INCR', KEYS[1])
return {type(status), status.ok, type(int), int, bulk, type(null), tostring(null),
        #arr, arr[2], #empty, type(err), err.err}
