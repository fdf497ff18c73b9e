-- RESP3 replies inside a script and back out.
redis.setresp(3)
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'f1', 'v1')
redis.call('ZADD', KEYS[2], 1.5, 'm')
redis.call('SADD', KEYS[3], 'only')
local h = redis.call('HGETALL', KEYS[1])
local sc = redis.call('ZSCORE', KEYS[2], 'm')
local st = redis.call('SMEMBERS', KEYS[3])
local missing = redis.call('GET', 'no-such-key-here')
return {h, sc, st, type(h.map), type(sc.double), missing == nil,
        {double = 2.5}, {big_number = '123456789012345678901234567890'},
        {verbatim_string = {format = 'txt', string = 'hello'}},
        {map = {a = 1}}, {set = {x = true}}, true, false}
