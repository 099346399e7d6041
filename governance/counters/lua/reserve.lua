-- Reserve one request: rate windows, tenant caps, user budget waterfall, all in one atomic step.
-- Loaded after settle_record.lua.
-- KEYS: 1 key rate window, 2 user rate window, 3 tenant day, 4 tenant month, 5 user day,
--       6 this reservation's record, 7 the tenant's pending set,
--       8.. the usable grants' counters, soonest expiry first.
-- ARGV: 1 now, 2 cost, 3 key rpm, 4 user rpm, 5 user daily budget, 6 tenant day cap,
--       7 tenant month cap (3..7: -1 means none), 8 request id, 9 day key ttl,
--       10 month key ttl, 11 sweep deadline of this reservation, 12 record ttl,
--       13 how many abandoned reservations to sweep at most,
--       then per grant (same order as KEYS 8..): amount, counter ttl, bucket name.
-- Returns {code, key window count, key window oldest, user window count, user window oldest};
-- code 0 reserved, 1 rate limit, 2 spend cap, 3 budget, 4 this id is already reserved
-- (a retried call: nothing changes). Counts include this request when it was reserved.
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local key_rpm = tonumber(ARGV[3])
local user_rpm = tonumber(ARGV[4])

-- Reservations of crashed processes would hold budget forever: release the overdue ones.
local overdue = redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', now, 'LIMIT', 0, tonumber(ARGV[13]))
for _, rec in ipairs(overdue) do
  settle_record(rec, KEYS[7], 0)
end

local function window(key, rpm)
  if rpm < 0 then
    return 0, ''
  end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - 60)
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return redis.call('ZCARD', key), oldest[2] or ''
end

local function counter(key)
  return tonumber(redis.call('GET', key) or '0')
end

local kc, ko = window(KEYS[1], key_rpm)
local uc, uo = window(KEYS[2], user_rpm)
if redis.call('EXISTS', KEYS[6]) == 1 then
  return {4, kc, ko, uc, uo}
end
if (key_rpm >= 0 and kc >= key_rpm) or (user_rpm >= 0 and uc >= user_rpm) then
  return {1, kc, ko, uc, uo}
end

local day_cap = tonumber(ARGV[6])
local month_cap = tonumber(ARGV[7])
if (day_cap >= 0 and counter(KEYS[3]) + cost > day_cap)
    or (month_cap >= 0 and counter(KEYS[4]) + cost > month_cap) then
  return {2, kc, ko, uc, uo}
end

-- Sources in waterfall order: {counter key, bucket name, available, key ttl}.
local budget = tonumber(ARGV[5])
local sources = {}
if budget < 0 then
  sources[1] = {KEYS[5], 'daily', cost, ARGV[9]}
else
  sources[1] = {KEYS[5], 'daily', math.max(0, budget - counter(KEYS[5])), ARGV[9]}
  for i = 8, #KEYS do
    local a = 14 + (i - 8) * 3
    local available = math.max(0, tonumber(ARGV[a]) - counter(KEYS[i]))
    sources[#sources + 1] = {KEYS[i], ARGV[a + 2], available, ARGV[a + 1]}
  end
end
local left = cost
local taken = {}
for _, source in ipairs(sources) do
  if left <= 0 then
    break
  end
  local take = math.min(source[3], left)
  if take > 0 then
    taken[#taken + 1] = {source, take}
    left = left - take
  end
end
if left > 0 then
  return {3, kc, ko, uc, uo}
end
if #taken == 0 then
  -- Cost 0 (rate limit only): an actual cost at settle goes where the next spend would.
  local first = sources[1]
  for _, source in ipairs(sources) do
    if source[3] > 0 then
      first = source
      break
    end
  end
  taken[1] = {first, 0}
end

if key_rpm >= 0 then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[8])
  redis.call('EXPIRE', KEYS[1], 61)
  kc = kc + 1
  if ko == '' then ko = ARGV[1] end
end
if user_rpm >= 0 then
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[8])
  redis.call('EXPIRE', KEYS[2], 61)
  uc = uc + 1
  if uo == '' then uo = ARGV[1] end
end
redis.call('INCRBY', KEYS[3], cost)
redis.call('EXPIRE', KEYS[3], ARGV[9])
redis.call('INCRBY', KEYS[4], cost)
redis.call('EXPIRE', KEYS[4], ARGV[10])
local record = {'c', cost, 'td', KEYS[3], 'tm', KEYS[4], 'n', #taken}
for i, t in ipairs(taken) do
  local source = t[1]
  redis.call('INCRBY', source[1], t[2])
  redis.call('EXPIRE', source[1], source[4])
  record[#record + 1] = 'k' .. i
  record[#record + 1] = source[1]
  record[#record + 1] = 'b' .. i
  record[#record + 1] = source[2]
  record[#record + 1] = 'a' .. i
  record[#record + 1] = t[2]
end
redis.call('HSET', KEYS[6], unpack(record))
redis.call('EXPIRE', KEYS[6], ARGV[12])
redis.call('ZADD', KEYS[7], ARGV[11], KEYS[6])
redis.call('EXPIRE', KEYS[7], ARGV[12])
return {0, kc, ko, uc, uo}
