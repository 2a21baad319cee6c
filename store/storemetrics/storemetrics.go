// Package storemetrics wraps a store.Store to measure it: the latency of
// every operation and its errors, by operation, on an injected
// prometheus.Registerer.
//
//	keygate_store_operation_duration_seconds{op}
//	keygate_store_operation_errors_total{op,error}
//
// op is one of the Store's methods (get, create, put, update, delete,
// list, incr, counter, reset_counter, strike, strikes, reset_strikes,
// clear_strikes, publish, subscribe, ping); error is not_found, conflict
// (expected outcomes the callers act on), unavailable (the backend did not
// answer), invalid (a key or value the store refused) or other. Both
// label sets are fixed, so the series are bounded: 16 histograms and 80
// counters.
package storemetrics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keygate/keygate/store"
)

type op uint8

const (
	opGet op = iota
	opCreate
	opPut
	opUpdate
	opDelete
	opList
	opIncr
	opCounter
	opResetCounter
	opStrike
	opStrikes
	opResetStrikes
	opClearStrikes
	opPublish
	opSubscribe
	opPing
	numOps
)

var opNames = [numOps]string{"get", "create", "put", "update", "delete", "list", "incr", "counter", "reset_counter",
	"strike", "strikes", "reset_strikes", "clear_strikes", "publish", "subscribe", "ping"}

type errKind uint8

const (
	errNotFound errKind = iota
	errConflict
	errUnavailable
	errInvalid
	errOther
	numErrs
)

var errNames = [numErrs]string{"not_found", "conflict", "unavailable", "invalid", "other"}

func kindOf(err error) errKind {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errNotFound
	case errors.Is(err, store.ErrConflict):
		return errConflict
	case errors.Is(err, store.ErrUnavailable):
		return errUnavailable
	case errors.Is(err, store.ErrInvalidKey), errors.Is(err, store.ErrValueTooLarge):
		return errInvalid
	}
	return errOther
}

// Store is a store.Store whose calls are measured. Every call goes to the
// wrapped store unchanged.
type Store struct {
	next     store.Store
	duration [numOps]prometheus.Observer
	errs     [numOps][numErrs]prometheus.Counter
}

var _ store.Store = (*Store)(nil)

// Wrap measures next on reg (nil: a private registry).
func Wrap(next store.Store, reg prometheus.Registerer) (*Store, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "keygate_store_operation_duration_seconds",
		Help:    "Time of store operations, by operation.",
		Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"op"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keygate_store_operation_errors_total",
		Help: "Store operations that returned an error, by operation and error (not_found and conflict are outcomes callers expect; unavailable: the backend did not answer; invalid; other).",
	}, []string{"op", "error"})
	for _, c := range []prometheus.Collector{duration, errs} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering store metrics: %w", err)
		}
	}
	s := &Store{next: next}
	for o, name := range opNames {
		s.duration[o] = duration.WithLabelValues(name)
		for k, kind := range errNames {
			s.errs[o][k] = errs.WithLabelValues(name, kind)
		}
	}
	return s, nil
}

// Unwrap returns the measured store.
func (s *Store) Unwrap() store.Store { return s.next }

func (s *Store) done(o op, start time.Time, err error) {
	s.duration[o].Observe(time.Since(start).Seconds())
	if err != nil {
		s.errs[o][kindOf(err)].Inc()
	}
}

func (s *Store) Get(ctx context.Context, key string) (store.Record, error) {
	start := time.Now()
	r, err := s.next.Get(ctx, key)
	s.done(opGet, start, err)
	return r, err
}

func (s *Store) Create(ctx context.Context, key string, value []byte, opts store.WriteOptions) (int64, error) {
	start := time.Now()
	v, err := s.next.Create(ctx, key, value, opts)
	s.done(opCreate, start, err)
	return v, err
}

func (s *Store) Put(ctx context.Context, key string, value []byte, opts store.WriteOptions) (int64, error) {
	start := time.Now()
	v, err := s.next.Put(ctx, key, value, opts)
	s.done(opPut, start, err)
	return v, err
}

func (s *Store) Update(ctx context.Context, key string, value []byte, version int64, opts store.WriteOptions) (int64, error) {
	start := time.Now()
	v, err := s.next.Update(ctx, key, value, version, opts)
	s.done(opUpdate, start, err)
	return v, err
}

func (s *Store) Delete(ctx context.Context, key string, version int64) error {
	start := time.Now()
	err := s.next.Delete(ctx, key, version)
	s.done(opDelete, start, err)
	return err
}

func (s *Store) List(ctx context.Context, index string) ([]store.Record, error) {
	start := time.Now()
	r, err := s.next.List(ctx, index)
	s.done(opList, start, err)
	return r, err
}

func (s *Store) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	start := time.Now()
	v, err := s.next.Incr(ctx, key, delta, ttl)
	s.done(opIncr, start, err)
	return v, err
}

func (s *Store) Counter(ctx context.Context, key string) (int64, error) {
	start := time.Now()
	v, err := s.next.Counter(ctx, key)
	s.done(opCounter, start, err)
	return v, err
}

func (s *Store) ResetCounter(ctx context.Context, key string) error {
	start := time.Now()
	err := s.next.ResetCounter(ctx, key)
	s.done(opResetCounter, start, err)
	return err
}

func (s *Store) Strike(ctx context.Context, key string, limit int64) (store.Strikes, bool, error) {
	start := time.Now()
	st, tripped, err := s.next.Strike(ctx, key, limit)
	s.done(opStrike, start, err)
	return st, tripped, err
}

func (s *Store) Strikes(ctx context.Context, key string) (store.Strikes, error) {
	start := time.Now()
	st, err := s.next.Strikes(ctx, key)
	s.done(opStrikes, start, err)
	return st, err
}

func (s *Store) ResetStrikes(ctx context.Context, key string) error {
	start := time.Now()
	err := s.next.ResetStrikes(ctx, key)
	s.done(opResetStrikes, start, err)
	return err
}

func (s *Store) ClearStrikes(ctx context.Context, key string) error {
	start := time.Now()
	err := s.next.ClearStrikes(ctx, key)
	s.done(opClearStrikes, start, err)
	return err
}

func (s *Store) Publish(ctx context.Context, channel string, payload []byte) error {
	start := time.Now()
	err := s.next.Publish(ctx, channel, payload)
	s.done(opPublish, start, err)
	return err
}

// Subscribe measures setting up the subscription, not its messages.
func (s *Store) Subscribe(ctx context.Context, channel string) (<-chan store.Message, error) {
	start := time.Now()
	ch, err := s.next.Subscribe(ctx, channel)
	s.done(opSubscribe, start, err)
	return ch, err
}

func (s *Store) Ping(ctx context.Context) error {
	start := time.Now()
	err := s.next.Ping(ctx)
	s.done(opPing, start, err)
	return err
}

// Close closes the wrapped store; it is not measured.
func (s *Store) Close() error { return s.next.Close() }
