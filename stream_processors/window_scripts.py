"""The window store's Lua scripts: each update is one atomic step in Redis (see
``window_store``), so two workers or a replayed batch never count a record twice."""

RESTARTED = -1  # APPLY: the store's epoch is gone, Redis restarted

# ARGV: epoch, ttl, window start, items, guards n, then n x (partition, expected last offset,
# new last offset), then (field, increment) pairs. Every guard must still hold, or nothing is
# applied: the partitions of one batch are counted into a window in one step.
APPLY = """
if redis.call('GET', KEYS[4]) ~= ARGV[1] then return -1 end
local guards = tonumber(ARGV[5])
for i = 6, 5 + 3 * guards, 3 do
  local last = redis.call('HGET', KEYS[2], ARGV[i])
  if not last then last = '-1' end
  if last ~= ARGV[i + 1] then return 0 end
end
for i = 6, 5 + 3 * guards, 3 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 2]) end
redis.call('EXPIRE', KEYS[2], ARGV[2])
if redis.call('EXISTS', KEYS[5]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'late', ARGV[4])
  return 2
end
for i = 6 + 3 * guards, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[2])
return 1
"""
LATE = 2  # APPLY: the window was closed; counted as late

RAISE_POSITIONS = """
for i = 1, #ARGV - 1, 2 do
  local current = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '-1')
  if tonumber(ARGV[i + 1]) > current then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
redis.call('EXPIRE', KEYS[1], ARGV[#ARGV])
return 1
"""

ADMIT = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

RAISE_TO = """
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end
return redis.call('GET', KEYS[1])
"""

# KEYS: a version's sequential state, its alarms. ARGV: the cursor the worker read ('' for
# none), ttl, n state pairs, then n x (field, value), then the alarms' (field, value) pairs.
# A worker that read the state, then took longer than its lock and found another one had
# moved the cursor meanwhile, writes nothing: the other worker's state is as far or
# further along, and the next advance judges the rest from it.
ADVANCE_FROM = """
if (redis.call('HGET', KEYS[1], 'cursor') or '') ~= ARGV[1] then return 0 end
local pairs_n = tonumber(ARGV[3])
for i = 4, 3 + 2 * pairs_n, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
if #ARGV > 3 + 2 * pairs_n then
  for i = 4 + 2 * pairs_n, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
return 1
"""
