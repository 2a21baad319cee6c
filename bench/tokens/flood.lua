-- flood.lua: a wrk script that sends a different well-formed but unknown
-- Bearer token with each request, for the keygate-unknown benchmark target.
--
--   wrk -t2 -c64 -d10s -s bench/tokens/flood.lua http://127.0.0.1:9008/bench/item -- TOKENS_FILE THREADS
--
-- TOKENS_FILE holds one token a line (bench/tokens prints them); THREADS is
-- wrk's -t. Thread i of THREADS takes lines i+1, i+1+THREADS, ... and cycles
-- through them, so no two threads send the same token and each token recurs
-- only every (lines / requests per second) seconds. The requests are built
-- once, in init, so that request() costs wrk no more than its static request
-- does for the other targets: the load generator's own work stays the same.

local next_id = 0

-- setup runs in the main Lua state, once per thread, before init.
function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
end

local requests = {}
local n = 0
local i = 0

-- init runs in each thread's own Lua state; id was set by setup.
function init(args)
   local file = args[1]
   local threads = tonumber(args[2] or "1")
   if file == nil or threads == nil or threads < 1 then
      error("usage: wrk ... -s flood.lua URL -- TOKENS_FILE THREADS")
   end
   local f = assert(io.open(file, "r"))
   local line_no = 0
   local headers = { Authorization = "" }
   for token in f:lines() do
      if line_no % threads == id then
         headers.Authorization = "Bearer " .. token
         n = n + 1
         requests[n] = wrk.format(nil, nil, headers)
      end
      line_no = line_no + 1
   end
   f:close()
   if n == 0 then
      error("flood.lua: no tokens for thread " .. id .. " in " .. file)
   end
end

function request()
   i = i % n + 1
   return requests[i]
end
