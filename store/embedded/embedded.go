// Package embedded is the store for a single keygate instance: records and
// strikes live in a bbolt file, counters in memory, events in process.
//
// Records, with their version, expiry and index names, are durable across
// restarts, and so are strikes (a tripped flag survives a restart). Counters
// are kept in memory and start again from zero when the process restarts:
// they serve short windows (rate limits, recent failures) where that is
// acceptable. Expired records are invisible at once and removed from the file
// by a background sweeper.
//
// Only one process can open the file at a time; a second Open waits one
// second for the file lock and then fails with an error wrapping ErrLocked.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/store"
	"github.com/keygate/keygate/store/internal/guard"
)

// ErrLocked is wrapped by Open's error when another process holds the file.
var ErrLocked = errors.New("file is locked by another process (is another keygate running?)")

// errClosed is returned (wrapped) by every call after Close.
var errClosed = fmt.Errorf("embedded store closed: %w", store.ErrUnavailable)

// Bucket names. A record lives in bucketRecords under its key; its index
// memberships are keys index+"\x00"+key in bucketIndex and its expiry a key
// expiry(8 bytes, big endian ms)+key in bucketExpiry, so List and the sweeper
// read only what they need.
var (
	bucketMeta    = []byte("meta")
	bucketRecords = []byte("records")
	bucketIndex   = []byte("index")
	bucketExpiry  = []byte("expiry")
	bucketStrikes = []byte("strikes")
)

const (
	// lockTimeout bounds how long Open waits for another process's lock.
	lockTimeout = time.Second
	// sweepInterval is how often the sweeper removes expired records.
	sweepInterval = time.Minute
	// sweepBatch bounds the records removed in one write transaction.
	sweepBatch = 1000
)

// Store is the embedded store. It is safe for concurrent use.
type Store struct {
	db     *bolt.DB
	path   string
	log    *zap.Logger
	closed atomic.Bool
	done   chan struct{} // closed by Close; stops the sweeper
	wg     sync.WaitGroup

	cmu      sync.Mutex
	counters map[string]counter

	hub hub
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the bbolt file at cfg.Path (default
// config.DefaultEmbeddedPath) and starts the sweeper. A nil log discards
// logs. Close releases the file.
func Open(ctx context.Context, cfg config.Embedded, log *zap.Logger) (*Store, error) {
	return open(ctx, cfg, log, sweepInterval)
}

func open(ctx context.Context, cfg config.Embedded, log *zap.Logger, sweepEvery time.Duration) (*Store, error) {
	path := cfg.Path
	if path == "" {
		path = config.DefaultEmbeddedPath
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("opening embedded store %q: %w", path, err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("opening embedded store %q: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("opening embedded store %q: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketRecords, bucketIndex, bucketExpiry, bucketStrikes} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch f := meta.Get([]byte("format")); {
		case f == nil:
			return meta.Put([]byte("format"), []byte{formatV1})
		case len(f) != 1 || f[0] != formatV1:
			return fmt.Errorf("unknown file format %v", f)
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("opening embedded store %q: %w", path, err)
	}
	s := &Store{
		db:       db,
		path:     path,
		log:      log,
		done:     make(chan struct{}),
		counters: make(map[string]counter),
	}
	s.hub.init()
	s.wg.Go(func() { s.sweepLoop(sweepEvery) })
	s.log.Info("embedded store opened", zap.String("path", path))
	return s, nil
}

// Ping reports whether the store is open.
func (s *Store) Ping(ctx context.Context) error {
	return s.ready(ctx, "ping", "")
}

// Close stops the sweeper, closes every subscription and the file. Later
// calls fail with an error wrapping store.ErrUnavailable. Close is
// idempotent.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.done)
	s.wg.Wait()
	s.hub.close()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing embedded store %q: %w", s.path, err)
	}
	return nil
}

// ready fails when ctx is done or the store closed.
func (s *Store) ready(ctx context.Context, op, key string) error {
	return guard.Ready(ctx, &s.closed, errClosed, op, key)
}

// check is the prologue of every call taking a key: a done ctx, a closed
// store or a bad key fail before anything is touched.
func (s *Store) check(ctx context.Context, op, key string) error {
	return guard.Key(ctx, &s.closed, errClosed, op, key)
}

// wrap gives err its context; an error that is not one of the store's
// expected outcomes comes from bbolt (closed, I/O) and wraps ErrUnavailable.
func (s *Store) wrap(op, key string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict):
		return opError(op, key, err)
	case errors.Is(err, bolt.ErrDatabaseNotOpen):
		return opError(op, key, errClosed)
	default:
		s.log.Warn("store operation failed", zap.String("op", op), zap.Error(err))
		return opError(op, key, fmt.Errorf("%w: %w", store.ErrUnavailable, err))
	}
}

// opError puts the operation and key before err.
func opError(op, key string, err error) error { return guard.OpError(op, key, err) }

// sweepLoop removes expired records and counters every interval until
// Close.
func (s *Store) sweepLoop(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case now := <-t.C:
			n, err := s.sweep(now)
			if err != nil {
				s.log.Warn("store sweep failed", zap.Error(err))
			} else if n > 0 {
				s.log.Debug("store swept expired records", zap.Int("records", n))
			}
			s.sweepCounters(now)
		}
	}
}

// sweep removes the records that expired at or before now, in transactions
// of at most sweepBatch records, and returns how many it removed.
func (s *Store) sweep(now time.Time) (int, error) {
	total := 0
	for {
		select {
		case <-s.done:
			return total, nil
		default:
		}
		n, more, err := s.sweepOnce(now.UnixMilli())
		total += n
		if err != nil || !more {
			return total, err
		}
	}
}

func (s *Store) sweepOnce(nowMs int64) (removed int, more bool, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		exp := tx.Bucket(bucketExpiry)
		var due [][]byte
		c := exp.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(due) == sweepBatch {
				more = true
				break
			}
			if expiryTime(k) > nowMs {
				break
			}
			due = append(due, k)
		}
		for _, k := range due {
			key := string(k[8:])
			rec, ok, err := loadRecord(tx, key)
			if err != nil {
				return err
			}
			// The entry may be stale when the record was rewritten.
			if ok && rec.expiresMs == expiryTime(k) {
				if err := deleteRecord(tx, key, rec); err != nil {
					return err
				}
				removed++
				continue
			}
			if err := exp.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	return removed, more, err
}
