package redis

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/keygate/keygate/store"
	"github.com/keygate/keygate/store/internal/guard"
)

// errGarbage is wrapped when a record hash does not hold what the store
// wrote: Redis "answers garbage" and that is unavailability.
var errGarbage = errors.New("malformed record in redis")

// Get returns the live record at key, or an error wrapping store.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (store.Record, error) {
	if err := s.check(ctx, "get", key); err != nil {
		return store.Record{}, err
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	vals, err := s.client.HMGet(ctx, s.recordKey(key), "v", "n", "e").Result()
	if err != nil {
		return store.Record{}, s.fail(ctx, "get", key, err)
	}
	r, ok, err := parseRecord(key, vals, nowMs())
	if err != nil {
		return store.Record{}, s.fail(ctx, "get", key, err)
	}
	if !ok {
		return store.Record{}, opError("get", key, store.ErrNotFound)
	}
	return r, nil
}

// parseRecord reads an HMGET v n e reply; ok is false if the record is
// absent or expired at nowMs.
func parseRecord(key string, vals []any, nowMs int64) (store.Record, bool, error) {
	if len(vals) != 3 {
		return store.Record{}, false, errGarbage
	}
	if vals[1] == nil {
		return store.Record{}, false, nil
	}
	v, ok1 := vals[0].(string)
	n, ok2 := vals[1].(string)
	e, ok3 := vals[2].(string)
	if !ok1 || !ok2 || !ok3 {
		return store.Record{}, false, errGarbage
	}
	version, err1 := strconv.ParseInt(n, 10, 64)
	exp, err2 := strconv.ParseInt(e, 10, 64)
	if err1 != nil || err2 != nil {
		return store.Record{}, false, errGarbage
	}
	if exp != 0 && exp <= nowMs {
		return store.Record{}, false, nil
	}
	r := store.Record{Key: key, Value: []byte(v), Version: version}
	if exp != 0 {
		r.ExpiresAt = time.UnixMilli(exp)
	}
	return r, true, nil
}

// Create writes a record that must not exist yet and returns version 1.
func (s *Store) Create(ctx context.Context, key string, value []byte, opts store.WriteOptions) (int64, error) {
	return s.write(ctx, "create", "c", key, value, 0, opts)
}

// Put writes a record whether or not it exists and returns its new version.
func (s *Store) Put(ctx context.Context, key string, value []byte, opts store.WriteOptions) (int64, error) {
	return s.write(ctx, "put", "p", key, value, 0, opts)
}

// Update writes a record whose current version is version and returns the
// new version.
func (s *Store) Update(ctx context.Context, key string, value []byte, version int64, opts store.WriteOptions) (int64, error) {
	return s.write(ctx, "update", "u", key, value, version, opts)
}

func (s *Store) write(ctx context.Context, op, mode, key string, value []byte, version int64, opts store.WriteOptions) (int64, error) {
	if err := guard.Write(ctx, &s.closed, errClosed, op, key, value, opts); err != nil {
		return 0, err
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	now := time.Now()
	var expMs int64
	if opts.TTL > 0 {
		expMs = now.Add(opts.TTL).UnixMilli()
	}
	indexes := opts.SortedIndexes()
	// Membership before the write, so that a failure after it leaves the
	// record listed, and again after it with a fresh token (see the package
	// comment for why List can then never lose a live record).
	if err := s.addToIndexes(ctx, key, indexes, expMs); err != nil {
		return 0, s.fail(ctx, op, key, err)
	}
	res, err := writeScript.Run(ctx, s.client, []string{s.recordKey(key)},
		mode, value, expMs, strings.Join(indexes, " "), version, now.UnixMilli()).Int64Slice()
	if err != nil {
		return 0, s.fail(ctx, op, key, err)
	}
	if len(res) != 2 {
		return 0, s.fail(ctx, op, key, errGarbage)
	}
	switch res[0] {
	case 0:
		return 0, opError(op, key, store.ErrNotFound)
	case -1:
		return 0, opError(op, key, store.ErrConflict)
	}
	if err := s.addToIndexes(ctx, key, indexes, expMs); err != nil {
		return 0, s.fail(ctx, op, key, fmt.Errorf("record written, indexes not confirmed: %w", err))
	}
	s.confirm(ctx, op, key)
	return res[1], nil
}

// addToIndexes makes key a member of every index, each with a new token.
func (s *Store) addToIndexes(ctx context.Context, key string, indexes []string, expMs int64) error {
	if len(indexes) == 0 {
		return nil
	}
	calls := make([]scriptCall, len(indexes))
	for i, idx := range indexes {
		token := s.tokenBase + strconv.FormatUint(s.tokenSeq.Add(1), 36)
		calls[i] = scriptCall{indexAddScript, s.indexKey(idx), []any{key, token, expMs}}
	}
	return runPipelined(ctx, s.client, calls)
}

// Delete removes the live record at key: any version if version is 0,
// otherwise only that one. Its index memberships are left for List to
// remove.
func (s *Store) Delete(ctx context.Context, key string, version int64) error {
	if err := s.check(ctx, "delete", key); err != nil {
		return err
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	res, err := deleteScript.Run(ctx, s.client, []string{s.recordKey(key)}, version, nowMs()).Int64Slice()
	if err != nil {
		return s.fail(ctx, "delete", key, err)
	}
	if len(res) != 2 {
		return s.fail(ctx, "delete", key, errGarbage)
	}
	switch res[0] {
	case 0:
		return opError("delete", key, store.ErrNotFound)
	case -1:
		return opError("delete", key, store.ErrConflict)
	}
	s.confirm(ctx, "delete", key)
	return nil
}

// List returns the live records listed under index, in key order: the
// index's members, fetched in one pipeline, less those whose record is gone
// or no longer lists the index (removed from the index on the way).
func (s *Store) List(ctx context.Context, index string) ([]store.Record, error) {
	if err := s.check(ctx, "list", index); err != nil {
		return nil, err
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	ik := s.indexKey(index)
	members, err := s.client.HGetAll(ctx, ik).Result()
	if err != nil {
		return nil, s.fail(ctx, "list", index, err)
	}
	if len(members) == 0 {
		return nil, nil
	}
	keys := slices.Sorted(maps.Keys(members))
	cmds := make([]*goredis.SliceCmd, len(keys))
	_, err = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HMGet(ctx, s.recordKey(k), "v", "n", "e", "x")
		}
		return nil
	})
	if err != nil {
		return nil, s.fail(ctx, "list", index, err)
	}
	now := nowMs()
	var out []store.Record
	var stale []scriptCall
	for i, k := range keys {
		vals := cmds[i].Val()
		if len(vals) != 4 {
			return nil, s.fail(ctx, "list", index, errGarbage)
		}
		r, ok, err := parseRecord(k, vals[:3], now)
		if err != nil {
			return nil, s.fail(ctx, "list", index, err)
		}
		if ok {
			x, _ := vals[3].(string)
			ok = slices.Contains(strings.Fields(x), index)
		}
		if ok {
			out = append(out, r)
		} else {
			stale = append(stale, scriptCall{indexDropScript, ik, []any{k, members[k]}})
		}
	}
	if len(stale) > 0 {
		// Best effort: a member left behind is dropped by the next List.
		if err := runPipelined(ctx, s.client, stale); err != nil {
			s.metrics.errors.WithLabelValues("list").Inc()
			s.log.Debug("redis store index cleanup failed", zap.String("index", index), zap.Error(err))
		}
	}
	return out, nil
}

func nowMs() int64 { return time.Now().UnixMilli() }
