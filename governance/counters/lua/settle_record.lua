-- Prelude of reserve.lua and settle.lua: settle one reservation record.
-- Charges `actual` to the record's buckets in its waterfall order (an overflow beyond the
-- reservation goes to the first bucket, so spend stays exact), gives the rest back, and forgets
-- the record. The bucket keys are read from the record rather than passed as KEYS; they carry
-- the same {t<tenant>} hash tag as the record, so they live in the same Redis Cluster slot.
-- A counter whose key has already expired (its period is long over) is left alone rather than
-- re-created without a lifetime. Returns nil when the record is gone (already settled or
-- released), else a flat list {bucket, charged, ...} of the buckets charged more than 0.
local function settle_record(rec, pending, actual)
  local raw = redis.call('HGETALL', rec)
  redis.call('ZREM', pending, rec)
  if #raw == 0 then
    return nil
  end
  local f = {}
  for i = 1, #raw, 2 do
    f[raw[i]] = raw[i + 1]
  end
  local n = tonumber(f.n)
  local left = actual
  local charges = {}
  for i = 1, n do
    local take = math.min(tonumber(f['a' .. i]), left)
    charges[i] = take
    left = left - take
  end
  charges[1] = charges[1] + left
  local out = {}
  for i = 1, n do
    local key = f['k' .. i]
    local delta = charges[i] - tonumber(f['a' .. i])
    if delta ~= 0 and redis.call('EXISTS', key) == 1 then
      redis.call('INCRBY', key, delta)
    end
    if charges[i] > 0 then
      out[#out + 1] = f['b' .. i]
      out[#out + 1] = charges[i]
    end
  end
  local delta = actual - tonumber(f.c)
  if delta ~= 0 then
    for _, key in ipairs({f.td, f.tm}) do
      if redis.call('EXISTS', key) == 1 then
        redis.call('INCRBY', key, delta)
      end
    end
  end
  redis.call('DEL', rec)
  return out
end
