// Package storetest is the conformance suite every store.Store
// implementation passes: Run exercises the whole contract of package store
// through a Harness that opens the implementation under test.
//
// An implementation's test calls it once:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{New: func(t *testing.T) store.Store { ... }})
//	}
package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/store"
)

// Harness adapts one implementation to the suite. Only New is required; the
// tests that need a missing function are not run (and say so in the log).
type Harness struct {
	// New returns a store on fresh, empty data. The suite closes it.
	New func(t *testing.T) store.Store
	// Replica returns a second, independent client of the same data as s,
	// as another keygate replica would have. The suite closes it.
	Replica func(t *testing.T, s store.Store) store.Store
	// Reopen closes s and opens its data again, as a restart of keygate
	// would. The suite closes the new store.
	Reopen func(t *testing.T, s store.Store) store.Store
	// CountersSurviveReopen is true if counters survive Reopen (strikes and
	// records always must).
	CountersSurviveReopen bool
	// Restartable returns a store on a backend server of its own and a
	// function that restarts that server and returns once it answers
	// again; the server may come back empty. The suite closes the store.
	Restartable func(t *testing.T) (s store.Store, restart func())
}

// Run runs the suite. Subtests run in parallel, each on its own store.
func Run(t *testing.T, h Harness) {
	if h.New == nil {
		t.Fatal("storetest: Harness.New is nil")
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"CreateGet", testCreateGet},
		{"Versions", testVersions},
		{"Delete", testDelete},
		{"TTL", testTTL},
		{"WriteReplacesTTL", testWriteReplacesTTL},
		{"List", testList},
		{"ListExpiry", testListExpiry},
		{"InvalidInput", testInvalidInput},
		{"KeySpaces", testKeySpaces},
		{"Counters", testCounters},
		{"CounterTTL", testCounterTTL},
		{"IncrConcurrent", testIncrConcurrent},
		{"Strikes", testStrikes},
		{"StrikeConcurrent", testStrikeConcurrent},
		{"PubSub", testPubSub},
		{"PubSubSeparateChannels", testPubSubSeparateChannels},
		{"Unsubscribe", testUnsubscribe},
		{"SlowSubscriber", testSlowSubscriber},
		{"Canceled", testCanceled},
		{"Ping", testPing},
		{"Close", testClose},
		{"Reopen", testReopen},
		{"Restart", testRestart},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, h)
		})
	}
}

// open returns a fresh store closed at the end of the test.
func open(t *testing.T, h Harness) store.Store {
	t.Helper()
	s := h.New(t)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// replica returns a second client of s's data, or s itself when the
// implementation has no such thing.
func replica(t *testing.T, h Harness, s store.Store) store.Store {
	t.Helper()
	if h.Replica == nil {
		return s
	}
	r := h.Replica(t, s)
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// subscribe subscribes s to channel for ctx's lifetime, failing the test
// if it cannot.
func subscribe(t *testing.T, ctx context.Context, s store.Store, channel string) <-chan store.Message {
	t.Helper()
	ch, err := s.Subscribe(ctx, channel)
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", channel, err)
	}
	return ch
}

// onBoth runs work in workers goroutines at once, the even ones on s and
// the odd ones on r (its replica), and waits for them all.
func onBoth(s, r store.Store, workers int, work func(c store.Store)) {
	var wg sync.WaitGroup
	for i := range workers {
		c := s
		if i%2 == 1 {
			c = r
		}
		wg.Go(func() { work(c) })
	}
	wg.Wait()
}

// waitClosed drains ch until it is closed, failing the test with
// "<what> still open 5s after <after>" if it is not closed by then.
func waitClosed[T any](t *testing.T, ch <-chan T, what, after string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-ch:
		case <-deadline:
			t.Fatalf("%s still open 5s after %s", what, after)
		}
	}
}

// wantErr fails the test unless errors.Is(err, want) (want nil: err nil).
func wantErr(t *testing.T, call string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: got error %v, want none", call, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: got error %v, want %v", call, err, want)
	}
}

// mustGet returns the record at key or fails the test.
func mustGet(t *testing.T, s store.Store, key string) store.Record {
	t.Helper()
	r, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return r
}

// receive waits up to timeout for the next message on ch; ok is false if ch
// was closed.
func receive(t *testing.T, ch <-chan store.Message, timeout time.Duration) (m store.Message, ok bool) {
	t.Helper()
	select {
	case m, ok = <-ch:
		return m, ok
	case <-time.After(timeout):
		t.Fatalf("no message within %s", timeout)
		return m, false
	}
}

// canceled returns a context that is already cancelled.
func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
