-- Lease up to ARGV[4] whole tokens from the GCRA bucket redis_rate keeps
-- at KEYS[1] (same key, same stored value: the theoretical arrival time in
-- seconds since 2017-01-01), or, with a negative ARGV[4], give that many
-- back. redis_rate's AllowAtMost cannot be used for a lease: when fewer
-- tokens than asked are left it consumes the fractional remainder too.
redis.replicate_commands()

local key = KEYS[1]
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local want = tonumber(ARGV[4])

local interval = period / rate
local burst_offset = interval * burst

local now = redis.call("TIME")
now = (now[1] - 1483228800) + (now[2] / 1000000)

local tat = tonumber(redis.call("GET", key) or now)
tat = math.max(tat, now)

if want < 0 then
  -- A full bucket does not get fuller: tat never goes below now.
  local new_tat = math.max(tat + want * interval, now)
  local reset_after = new_tat - now
  if reset_after > 0 then
    redis.call("SET", key, new_tat, "EX", math.ceil(reset_after))
  else
    redis.call("DEL", key)
  end
  return {0, math.floor((now - (new_tat - burst_offset)) / interval), "-1", tostring(reset_after)}
end

local available = math.floor((now - (tat - burst_offset)) / interval)
if available < 1 then
  return {0, 0, tostring(interval - (now - (tat - burst_offset))), tostring(tat - now)}
end
local n = math.min(want, available)
local new_tat = tat + n * interval
local reset_after = new_tat - now
if reset_after > 0 then -- else below the precision of tat: the bucket stays full
  redis.call("SET", key, new_tat, "EX", math.ceil(reset_after))
end
return {n, available - n, "-1", tostring(reset_after)}
