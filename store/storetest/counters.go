package storetest

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/testkit"
	"github.com/keygate/keygate/store"
)

func testCounters(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := t.Context()
	steps := []struct {
		delta, want int64
	}{{1, 1}, {5, 6}, {-2, 4}, {0, 4}, {-10, -6}}
	for _, st := range steps {
		got, err := s.Incr(ctx, "c", st.delta, 0)
		if err != nil || got != st.want {
			t.Fatalf("Incr(%d): got (%d, %v), want (%d, nil)", st.delta, got, err, st.want)
		}
	}
	if got, err := s.Counter(ctx, "c"); err != nil || got != -6 {
		t.Fatalf("Counter: got (%d, %v), want (-6, nil)", got, err)
	}
	if got, err := s.Counter(ctx, "absent"); err != nil || got != 0 {
		t.Fatalf("Counter absent: got (%d, %v), want (0, nil)", got, err)
	}
	if err := s.ResetCounter(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetCounter(ctx, "absent"); err != nil {
		t.Fatalf("ResetCounter absent: %v", err)
	}
	if got, err := s.Counter(ctx, "c"); err != nil || got != 0 {
		t.Fatalf("Counter after reset: got (%d, %v), want (0, nil)", got, err)
	}
	if got, err := s.Incr(ctx, "c", 3, 0); err != nil || got != 3 {
		t.Fatalf("Incr after reset: got (%d, %v), want (3, nil)", got, err)
	}
}

func testCounterTTL(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := t.Context()
	const ttl = 150 * time.Millisecond
	start := time.Now()
	if _, err := s.Incr(ctx, "fixed", 1, ttl); err != nil {
		t.Fatal(err)
	}
	// Later increments neither extend nor replace the TTL...
	if _, err := s.Incr(ctx, "fixed", 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	// ...nor give one to a counter created without.
	if _, err := s.Incr(ctx, "forever", 1, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Incr(ctx, "forever", 1, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Counter(ctx, "fixed"); err != nil || got != 2 {
		t.Fatalf("Counter before expiry: got (%d, %v), want (2, nil)", got, err)
	}
	testkit.Eventually(t, 3*time.Second, "counter expired", func() bool {
		n, err := s.Counter(ctx, "fixed")
		return err == nil && n == 0
	})
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("counter with TTL %s lived %s: the later increment extended it", ttl, took)
	}
	if got, err := s.Incr(ctx, "fixed", 1, 0); err != nil || got != 1 {
		t.Fatalf("Incr after expiry: got (%d, %v), want (1, nil)", got, err)
	}
	time.Sleep(100 * time.Millisecond)
	if got, err := s.Counter(ctx, "forever"); err != nil || got != 2 {
		t.Fatalf("Counter created without TTL: got (%d, %v), want (2, nil)", got, err)
	}
}

func testIncrConcurrent(t *testing.T, h Harness) {
	s := open(t, h)
	r := replica(t, h, s)
	ctx := t.Context()
	const workers, each = 50, 20
	var failed atomic.Int64
	onBoth(s, r, workers, func(c store.Store) {
		for range each {
			if _, err := c.Incr(ctx, "hits", 1, time.Minute); err != nil {
				failed.Add(1)
			}
		}
	})
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d increments failed", n)
	}
	if got, err := r.Counter(ctx, "hits"); err != nil || got != workers*each {
		t.Fatalf("Counter after %d concurrent increments: got (%d, %v), want %d", workers*each, got, err, workers*each)
	}
}

func testStrikes(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := t.Context()
	strike := func(wantCount int64, wantTripped, wantTransition bool) {
		t.Helper()
		st, tripped, err := s.Strike(ctx, "k", 3)
		if err != nil || st.Count != wantCount || st.Tripped != wantTripped || tripped != wantTransition {
			t.Fatalf("Strike: got (%+v, %v, %v), want ({Count:%d Tripped:%v}, %v, nil)",
				st, tripped, err, wantCount, wantTripped, wantTransition)
		}
	}
	state := func(when string, want store.Strikes) {
		t.Helper()
		if got, err := s.Strikes(ctx, "k"); err != nil || got != want {
			t.Fatalf("Strikes %s: got (%+v, %v), want %+v", when, got, err, want)
		}
	}
	state("absent", store.Strikes{})
	if err := s.ResetStrikes(ctx, "k"); err != nil {
		t.Fatalf("ResetStrikes absent: %v", err)
	}
	state("after resetting absent", store.Strikes{})
	strike(1, false, false)
	strike(2, false, false)
	if err := s.ResetStrikes(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	state("after reset before the limit", store.Strikes{})
	strike(1, false, false)
	strike(2, false, false)
	strike(3, true, true)
	strike(4, true, false)
	state("tripped", store.Strikes{Count: 4, Tripped: true})
	if err := s.ResetStrikes(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	state("after reset when tripped", store.Strikes{Tripped: true})
	strike(1, true, false)
	strike(2, true, false)
	strike(3, true, false) // reaching the limit again is no new transition
	if err := s.ClearStrikes(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	state("after clear", store.Strikes{})
	strike(1, false, false)
	if err := s.ClearStrikes(ctx, "absent"); err != nil {
		t.Fatalf("ClearStrikes absent: %v", err)
	}

	st, tripped, err := s.Strike(ctx, "limit0", 0)
	if err != nil || !tripped || st != (store.Strikes{Count: 1, Tripped: true}) {
		t.Fatalf("Strike with limit 0: got (%+v, %v, %v), want tripped at once", st, tripped, err)
	}
}

func testStrikeConcurrent(t *testing.T, h Harness) {
	s := open(t, h)
	r := replica(t, h, s)
	ctx := t.Context()
	const workers, limit = 50, 10
	var transitions, failed atomic.Int64
	onBoth(s, r, workers, func(c store.Store) {
		st, tripped, err := c.Strike(ctx, "token/x", limit)
		switch {
		case err != nil:
			failed.Add(1)
		case tripped:
			transitions.Add(1)
			if st.Count != limit || !st.Tripped {
				t.Errorf("the tripping Strike returned %+v, want count %d, tripped", st, limit)
			}
		case (st.Count >= limit) != st.Tripped:
			t.Errorf("Strike returned %+v: tripped must be set exactly from count %d on", st, limit)
		}
	})
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d strikes failed", n)
	}
	if n := transitions.Load(); n != 1 {
		t.Fatalf("%d concurrent strikes saw the transition, want exactly 1", n)
	}
	if got, err := r.Strikes(ctx, "token/x"); err != nil || got != (store.Strikes{Count: workers, Tripped: true}) {
		t.Fatalf("Strikes: got (%+v, %v), want count %d tripped", got, err, workers)
	}
}
