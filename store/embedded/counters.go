package embedded

import (
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/keygate/keygate/store"
)

// counter is an in-memory counter; expires is zero if it never does.
type counter struct {
	n       int64
	expires time.Time
}

func (c counter) live(now time.Time) bool { return c.expires.IsZero() || now.Before(c.expires) }

// Incr adds delta to the in-memory counter at key. Counters do not survive
// a restart of the process.
func (s *Store) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	if err := s.check(ctx, "incr", key); err != nil {
		return 0, err
	}
	now := time.Now()
	s.cmu.Lock()
	defer s.cmu.Unlock()
	c, ok := s.counters[key]
	if !ok || !c.live(now) {
		c = counter{}
		if ttl > 0 {
			c.expires = now.Add(ttl)
		}
	}
	c.n += delta
	s.counters[key] = c
	return c.n, nil
}

// Counter returns the counter's value, 0 if it does not exist.
func (s *Store) Counter(ctx context.Context, key string) (int64, error) {
	if err := s.check(ctx, "counter", key); err != nil {
		return 0, err
	}
	s.cmu.Lock()
	defer s.cmu.Unlock()
	c, ok := s.counters[key]
	if !ok || !c.live(time.Now()) {
		return 0, nil
	}
	return c.n, nil
}

// ResetCounter removes the counter.
func (s *Store) ResetCounter(ctx context.Context, key string) error {
	if err := s.check(ctx, "reset_counter", key); err != nil {
		return err
	}
	s.cmu.Lock()
	defer s.cmu.Unlock()
	delete(s.counters, key)
	return nil
}

// sweepCounters drops the counters that expired before now.
func (s *Store) sweepCounters(now time.Time) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	for k, c := range s.counters {
		if !c.live(now) {
			delete(s.counters, k)
		}
	}
}

// Strike records one failure in the file, in one transaction: the count and
// the trip flag survive a restart.
func (s *Store) Strike(ctx context.Context, key string, limit int64) (store.Strikes, bool, error) {
	if err := s.check(ctx, "strike", key); err != nil {
		return store.Strikes{}, false, err
	}
	limit = max(limit, 1)
	var st store.Strikes
	var tripped bool
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketStrikes)
		var err error
		if st, err = decodeStrikes(b.Get([]byte(key))); err != nil {
			return err
		}
		st.Count++
		tripped = !st.Tripped && st.Count >= limit
		st.Tripped = st.Tripped || tripped
		return b.Put([]byte(key), encodeStrikes(st))
	})
	if err != nil {
		return store.Strikes{}, false, s.wrap("strike", key, err)
	}
	return st, tripped, nil
}

// Strikes reads the state without changing it.
func (s *Store) Strikes(ctx context.Context, key string) (store.Strikes, error) {
	if err := s.check(ctx, "strikes", key); err != nil {
		return store.Strikes{}, err
	}
	var st store.Strikes
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		st, err = decodeStrikes(tx.Bucket(bucketStrikes).Get([]byte(key)))
		return err
	})
	return st, s.wrap("strikes", key, err)
}

// ResetStrikes sets the count to 0 and keeps the trip flag.
func (s *Store) ResetStrikes(ctx context.Context, key string) error {
	if err := s.check(ctx, "reset_strikes", key); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketStrikes)
		v := b.Get([]byte(key))
		if v == nil {
			return nil
		}
		st, err := decodeStrikes(v)
		if err != nil {
			return err
		}
		st.Count = 0
		return b.Put([]byte(key), encodeStrikes(st))
	})
	return s.wrap("reset_strikes", key, err)
}

// ClearStrikes removes count and trip flag.
func (s *Store) ClearStrikes(ctx context.Context, key string) error {
	if err := s.check(ctx, "clear_strikes", key); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketStrikes).Delete([]byte(key))
	})
	return s.wrap("clear_strikes", key, err)
}

// Strikes are stored as count (8 bytes, big endian) and a tripped byte.
func encodeStrikes(st store.Strikes) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 9), uint64(st.Count))
	if st.Tripped {
		return append(b, 1)
	}
	return append(b, 0)
}

// decodeStrikes reads a stored state; nil (absent) is the zero state.
func decodeStrikes(v []byte) (store.Strikes, error) {
	switch {
	case v == nil:
		return store.Strikes{}, nil
	case len(v) != 9:
		return store.Strikes{}, errCorrupt
	}
	return store.Strikes{Count: int64(binary.BigEndian.Uint64(v)), Tripped: v[8] == 1}, nil
}
