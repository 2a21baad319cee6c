package embedded

import (
	"bytes"
	"context"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/keygate/keygate/store"
	"github.com/keygate/keygate/store/internal/guard"
)

// Get returns the live record at key, or an error wrapping store.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (store.Record, error) {
	if err := s.check(ctx, "get", key); err != nil {
		return store.Record{}, err
	}
	var out store.Record
	err := s.db.View(func(tx *bolt.Tx) error {
		r, ok, err := loadRecord(tx, key)
		if err != nil {
			return err
		}
		if !ok || !r.live(nowMs()) {
			return store.ErrNotFound
		}
		out = r.record(key)
		return nil
	})
	return out, s.wrap("get", key, err)
}

// writeMode selects the precondition of a write.
type writeMode int

const (
	modeCreate writeMode = iota // no live record
	modePut                     // none
	modeUpdate                  // live record at the given version
)

var modeOps = [...]string{modeCreate: "create", modePut: "put", modeUpdate: "update"}

// Create writes a record that must not exist yet and returns version 1.
func (s *Store) Create(ctx context.Context, key string, value []byte, opts store.WriteOptions) (int64, error) {
	return s.write(ctx, modeCreate, key, value, 0, opts)
}

// Put writes a record whether or not it exists and returns its new version.
func (s *Store) Put(ctx context.Context, key string, value []byte, opts store.WriteOptions) (int64, error) {
	return s.write(ctx, modePut, key, value, 0, opts)
}

// Update writes a record whose current version is version and returns the
// new version.
func (s *Store) Update(ctx context.Context, key string, value []byte, version int64, opts store.WriteOptions) (int64, error) {
	return s.write(ctx, modeUpdate, key, value, version, opts)
}

func (s *Store) write(ctx context.Context, mode writeMode, key string, value []byte, version int64, opts store.WriteOptions) (int64, error) {
	op := modeOps[mode]
	if err := guard.Write(ctx, &s.closed, errClosed, op, key, value, opts); err != nil {
		return 0, err
	}
	now := time.Now()
	next := rec{indexes: opts.SortedIndexes(), value: value}
	if opts.TTL > 0 {
		next.expiresMs = now.Add(opts.TTL).UnixMilli()
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		cur, ok, err := loadRecord(tx, key)
		if err != nil {
			return err
		}
		live := ok && cur.live(now.UnixMilli())
		switch {
		case mode == modeCreate && live:
			return store.ErrConflict
		case mode == modeUpdate && !live:
			return store.ErrNotFound
		case mode == modeUpdate && cur.version != version:
			return store.ErrConflict
		}
		next.version = 1
		if live {
			next.version = cur.version + 1
		}
		if ok {
			if err := deleteRecord(tx, key, cur); err != nil {
				return err
			}
		}
		return putRecord(tx, key, next)
	})
	if err != nil {
		return 0, s.wrap(op, key, err)
	}
	return next.version, nil
}

// Delete removes the live record at key: any version if version is 0,
// otherwise only that one.
func (s *Store) Delete(ctx context.Context, key string, version int64) error {
	if err := s.check(ctx, "delete", key); err != nil {
		return err
	}
	expired := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		cur, ok, err := loadRecord(tx, key)
		if err != nil {
			return err
		}
		if !ok {
			return store.ErrNotFound
		}
		if !cur.live(nowMs()) {
			// The sweeper's work, done now (committed); still not found.
			expired = true
			return deleteRecord(tx, key, cur)
		}
		if version != 0 && cur.version != version {
			return store.ErrConflict
		}
		return deleteRecord(tx, key, cur)
	})
	if err == nil && expired {
		err = store.ErrNotFound
	}
	return s.wrap("delete", key, err)
}

// List returns the live records listed under index, in key order, reading
// only that index's entries.
func (s *Store) List(ctx context.Context, index string) ([]store.Record, error) {
	if err := s.check(ctx, "list", index); err != nil {
		return nil, err
	}
	var out []store.Record
	err := s.db.View(func(tx *bolt.Tx) error {
		now := nowMs()
		prefix := indexKey(index, "")
		c := tx.Bucket(bucketIndex).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			key := string(k[len(prefix):])
			r, ok, err := loadRecord(tx, key)
			if err != nil {
				return err
			}
			if ok && r.live(now) && r.lists(index) {
				out = append(out, r.record(key))
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap("list", index, err)
	}
	return out, nil
}

func nowMs() int64 { return time.Now().UnixMilli() }
