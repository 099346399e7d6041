-- Settle (or, with actual 0, release) one reservation. Loaded after settle_record.lua.
-- KEYS[1] the reservation record, KEYS[2] the tenant's pending set; ARGV[1] actual nano-USD.
-- Returns {0} when there was nothing to settle, else {1, bucket, charged, ...}.
local out = settle_record(KEYS[1], KEYS[2], tonumber(ARGV[1]))
if out == nil then
  return {0}
end
table.insert(out, 1, 1)
return out
