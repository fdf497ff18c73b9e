-- Fixed-window rate limiter: KEYS[1] counter, ARGV[1] window (s), ARGV[2] limit.
local current = redis.call('INCR', KEYS[1])
if current == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
if current > tonumber(ARGV[2]) then
  return redis.error_reply('ERR rate limit exceeded')
end
return {current, redis.call('TTL', KEYS[1])}
