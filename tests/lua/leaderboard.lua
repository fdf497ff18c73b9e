-- Leaderboard update: add ARGV[1] points to member ARGV[2], return its new
-- rank (0 = best), score and the top 3.
local score = redis.call('ZINCRBY', KEYS[1], ARGV[1], ARGV[2])
local rank = redis.call('ZREVRANK', KEYS[1], ARGV[2])
local top = redis.call('ZREVRANGE', KEYS[1], 0, 2, 'WITHSCORES')
return {rank, score, top}
