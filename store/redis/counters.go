package redis

import (
	"context"
	"errors"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keygate/keygate/store"
)

// Incr adds delta to the counter at key; ttl (if positive) is set only when
// the increment creates the counter.
func (s *Store) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	if err := s.check(ctx, "incr", key); err != nil {
		return 0, err
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	var ttlMs int64
	if ttl > 0 {
		ttlMs = max(ttl.Milliseconds(), 1)
	}
	n, err := incrScript.Run(ctx, s.client, []string{s.counterKey(key)}, delta, ttlMs).Int64()
	if err != nil {
		return 0, s.fail(ctx, "incr", key, err)
	}
	return n, nil
}

// Counter returns the counter's value, 0 if it does not exist.
func (s *Store) Counter(ctx context.Context, key string) (int64, error) {
	if err := s.check(ctx, "counter", key); err != nil {
		return 0, err
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	n, err := s.client.Get(ctx, s.counterKey(key)).Int64()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, s.fail(ctx, "counter", key, err)
	}
	return n, nil
}

// ResetCounter removes the counter.
func (s *Store) ResetCounter(ctx context.Context, key string) error {
	return s.del(ctx, "reset_counter", key, s.counterKey(key))
}

// Strike records one failure in one script on one key, so exactly one call
// among any number of clients sees the count reach limit.
func (s *Store) Strike(ctx context.Context, key string, limit int64) (store.Strikes, bool, error) {
	if err := s.check(ctx, "strike", key); err != nil {
		return store.Strikes{}, false, err
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	res, err := strikeScript.Run(ctx, s.client, []string{s.strikesKey(key)}, max(limit, 1)).Int64Slice()
	if err != nil {
		return store.Strikes{}, false, s.fail(ctx, "strike", key, err)
	}
	if len(res) != 3 {
		return store.Strikes{}, false, s.fail(ctx, "strike", key, errGarbage)
	}
	tripped := res[2] == 1
	if tripped {
		// This strike voided the credential: like a revocation, it must
		// survive a failover.
		s.confirm(ctx, "strike", key)
	}
	return store.Strikes{Count: res[0], Tripped: res[1] == 1}, tripped, nil
}

// Strikes reads the state without changing it.
func (s *Store) Strikes(ctx context.Context, key string) (store.Strikes, error) {
	if err := s.check(ctx, "strikes", key); err != nil {
		return store.Strikes{}, err
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	vals, err := s.client.HMGet(ctx, s.strikesKey(key), "count", "tripped").Result()
	if err != nil {
		return store.Strikes{}, s.fail(ctx, "strikes", key, err)
	}
	var st store.Strikes
	if len(vals) != 2 {
		return st, s.fail(ctx, "strikes", key, errGarbage)
	}
	if c, ok := vals[0].(string); ok {
		if st.Count, err = strconv.ParseInt(c, 10, 64); err != nil {
			return store.Strikes{}, s.fail(ctx, "strikes", key, errGarbage)
		}
	}
	st.Tripped = vals[1] == "1"
	return st, nil
}

// ResetStrikes sets the count to 0 and keeps the trip flag.
func (s *Store) ResetStrikes(ctx context.Context, key string) error {
	if err := s.check(ctx, "reset_strikes", key); err != nil {
		return err
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	if err := resetStrikesScript.Run(ctx, s.client, []string{s.strikesKey(key)}).Err(); err != nil {
		return s.fail(ctx, "reset_strikes", key, err)
	}
	return nil
}

// ClearStrikes removes count and trip flag.
func (s *Store) ClearStrikes(ctx context.Context, key string) error {
	return s.del(ctx, "clear_strikes", key, s.strikesKey(key))
}

// del is op on key, which removes the Redis key redisKey.
func (s *Store) del(ctx context.Context, op, key, redisKey string) error {
	if err := s.check(ctx, op, key); err != nil {
		return err
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	if err := s.client.Del(ctx, redisKey).Err(); err != nil {
		return s.fail(ctx, op, key, err)
	}
	return nil
}
