package redis

import (
	"context"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// Each script touches only KEYS[1], so it runs under Cluster. Times are unix
// milliseconds from the client's clock; "0" means no expiry.

// writeScript writes a record.
// ARGV: mode (c create, p put, u update), value, expiry ms, index names
// (space separated), expected version (update), now ms.
// Returns {1, new version}, {0, 0} not found, or {-1, version} conflict.
var writeScript = goredis.NewScript(`
local n = false
local cur = redis.call('HMGET', KEYS[1], 'n', 'e')
if cur[1] then
  local e = tonumber(cur[2]) or 0
  if e == 0 or e > tonumber(ARGV[6]) then n = tonumber(cur[1]) end
end
local mode = ARGV[1]
if mode == 'c' and n then return {-1, n} end
if mode == 'u' then
  if not n then return {0, 0} end
  if n ~= tonumber(ARGV[5]) then return {-1, n} end
end
local v = (n or 0) + 1
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'n', v, 'x', ARGV[4], 'e', ARGV[3])
if ARGV[3] ~= '0' then redis.call('PEXPIREAT', KEYS[1], ARGV[3]) end
return {1, v}
`)

// deleteScript removes a live record.
// ARGV: expected version (0 any), now ms.
// Returns {1, version}, {0, 0} not found, or {-1, version} conflict.
var deleteScript = goredis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'n', 'e')
if not cur[1] then return {0, 0} end
local e = tonumber(cur[2]) or 0
if e ~= 0 and e <= tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  return {0, 0}
end
local n = tonumber(cur[1])
local want = tonumber(ARGV[1])
if want ~= 0 and n ~= want then return {-1, n} end
redis.call('DEL', KEYS[1])
return {1, n}
`)

// indexAddScript makes a record a member of the index with a fresh token and
// keeps the index alive at least as long as the record: no expiry if the
// record has none, else the later of the index's expiry and the record's.
// ARGV: record key, token, record expiry ms.
var indexAddScript = goredis.NewScript(`
local existed = redis.call('EXISTS', KEYS[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local at = tonumber(ARGV[3])
if at == 0 then
  redis.call('PERSIST', KEYS[1])
elseif existed == 0 then
  redis.call('PEXPIREAT', KEYS[1], at)
else
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl >= 0 then
    local t = redis.call('TIME')
    if at > t[1] * 1000 + math.floor(t[2] / 1000) + ttl then
      redis.call('PEXPIREAT', KEYS[1], at)
    end
  end
end
return 1
`)

// indexDropScript removes a member only if its token is still the one List
// saw. ARGV: record key, token.
var indexDropScript = goredis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
`)

// incrScript adds ARGV[1] and sets the expiry ARGV[2] (ms, if positive) only
// when it creates the counter.
var incrScript = goredis.NewScript(`
local existed = redis.call('EXISTS', KEYS[1])
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 and tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return v
`)

// strikeScript counts one failure and trips at the limit ARGV[1], once.
// Returns {count, tripped (0/1), transition (0/1)}.
var strikeScript = goredis.NewScript(`
local c = redis.call('HINCRBY', KEYS[1], 'count', 1)
if redis.call('HGET', KEYS[1], 'tripped') == '1' then return {c, 1, 0} end
if c >= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'tripped', '1')
  return {c, 1, 1}
end
return {c, 0, 0}
`)

// resetStrikesScript zeroes the count of existing strikes, keeping tripped.
var resetStrikesScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'count', 0)
end
return 0
`)

// scriptCall is one script run in a pipeline.
type scriptCall struct {
	script *goredis.Script
	key    string
	args   []any
}

// runPipelined runs calls in one pipeline with EVALSHA and runs again with
// EVAL those that met a server without the script loaded. It returns the
// first error.
func runPipelined(ctx context.Context, c goredis.UniversalClient, calls []scriptCall) error {
	if len(calls) == 1 {
		return calls[0].script.Run(ctx, c, []string{calls[0].key}, calls[0].args...).Err()
	}
	cmds := make([]*goredis.Cmd, len(calls))
	_, _ = c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, call := range calls {
			cmds[i] = call.script.EvalSha(ctx, p, []string{call.key}, call.args...)
		}
		return nil
	})
	var retry []int
	for i, cmd := range cmds {
		if err := cmd.Err(); err != nil {
			if !strings.HasPrefix(err.Error(), "NOSCRIPT") {
				return err
			}
			retry = append(retry, i)
		}
	}
	if len(retry) == 0 {
		return nil
	}
	_, _ = c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, i := range retry {
			cmds[i] = calls[i].script.Eval(ctx, p, []string{calls[i].key}, calls[i].args...)
		}
		return nil
	})
	for _, i := range retry {
		if err := cmds[i].Err(); err != nil {
			return err
		}
	}
	return nil
}
