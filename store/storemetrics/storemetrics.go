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

// done measures op o, started at start, which returned *err: deferred by
// each method with its named error result.
func (s *Store) done(o op, start time.Time, err *error) {
	s.duration[o].Observe(time.Since(start).Seconds())
	if *err != nil {
		s.errs[o][kindOf(*err)].Inc()
	}
}

func (s *Store) Get(ctx context.Context, key string) (r store.Record, err error) {
	defer s.done(opGet, time.Now(), &err)
	return s.next.Get(ctx, key)
}

func (s *Store) Create(ctx context.Context, key string, value []byte, opts store.WriteOptions) (v int64, err error) {
	defer s.done(opCreate, time.Now(), &err)
	return s.next.Create(ctx, key, value, opts)
}

func (s *Store) Put(ctx context.Context, key string, value []byte, opts store.WriteOptions) (v int64, err error) {
	defer s.done(opPut, time.Now(), &err)
	return s.next.Put(ctx, key, value, opts)
}

func (s *Store) Update(ctx context.Context, key string, value []byte, version int64, opts store.WriteOptions) (v int64, err error) {
	defer s.done(opUpdate, time.Now(), &err)
	return s.next.Update(ctx, key, value, version, opts)
}

func (s *Store) Delete(ctx context.Context, key string, version int64) (err error) {
	defer s.done(opDelete, time.Now(), &err)
	return s.next.Delete(ctx, key, version)
}

func (s *Store) List(ctx context.Context, index string) (r []store.Record, err error) {
	defer s.done(opList, time.Now(), &err)
	return s.next.List(ctx, index)
}

func (s *Store) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (v int64, err error) {
	defer s.done(opIncr, time.Now(), &err)
	return s.next.Incr(ctx, key, delta, ttl)
}

func (s *Store) Counter(ctx context.Context, key string) (v int64, err error) {
	defer s.done(opCounter, time.Now(), &err)
	return s.next.Counter(ctx, key)
}

func (s *Store) ResetCounter(ctx context.Context, key string) (err error) {
	defer s.done(opResetCounter, time.Now(), &err)
	return s.next.ResetCounter(ctx, key)
}

func (s *Store) Strike(ctx context.Context, key string, limit int64) (st store.Strikes, tripped bool, err error) {
	defer s.done(opStrike, time.Now(), &err)
	return s.next.Strike(ctx, key, limit)
}

func (s *Store) Strikes(ctx context.Context, key string) (st store.Strikes, err error) {
	defer s.done(opStrikes, time.Now(), &err)
	return s.next.Strikes(ctx, key)
}

func (s *Store) ResetStrikes(ctx context.Context, key string) (err error) {
	defer s.done(opResetStrikes, time.Now(), &err)
	return s.next.ResetStrikes(ctx, key)
}

func (s *Store) ClearStrikes(ctx context.Context, key string) (err error) {
	defer s.done(opClearStrikes, time.Now(), &err)
	return s.next.ClearStrikes(ctx, key)
}

func (s *Store) Publish(ctx context.Context, channel string, payload []byte) (err error) {
	defer s.done(opPublish, time.Now(), &err)
	return s.next.Publish(ctx, channel, payload)
}

// Subscribe measures setting up the subscription, not its messages.
func (s *Store) Subscribe(ctx context.Context, channel string) (ch <-chan store.Message, err error) {
	defer s.done(opSubscribe, time.Now(), &err)
	return s.next.Subscribe(ctx, channel)
}

func (s *Store) Ping(ctx context.Context) (err error) {
	defer s.done(opPing, time.Now(), &err)
	return s.next.Ping(ctx)
}

// Close closes the wrapped store; it is not measured.
func (s *Store) Close() error { return s.next.Close() }
