package ratelimit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/internal/testkit"
)

// TestFastRedisDown: with Redis stopped, a replica spends what it has
// leased (flagged Degraded), then answers ErrUnavailable at once (the
// caller applies on_store_error); after a restart it leases again.
func TestFastRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	r := redisLimiter(t, srv.Addr(), redistest.Prefix(t))
	r.life = time.Hour // failed dials take a while; the lease must not expire meanwhile
	lim := fast(Limit{Rate: 1, Per: time.Minute, Burst: 10, Batch: 4})
	if d, err := r.Allow(t.Context(), "k", lim); err != nil || !d.Allowed || d.Degraded {
		t.Fatalf("with Redis up: %+v, %v", d, err)
	}
	waitIdle(t, r, "k")
	srv.Stop()
	for i := range 3 {
		d, err := r.Allow(t.Context(), "k", lim)
		if err != nil || !d.Allowed {
			t.Fatalf("leased token %d with Redis down: %+v, %v; want allowed", i+2, d, err)
		}
		waitIdle(t, r, "k") // the background refill after token 2 fails: from then on, Degraded
		if i > 0 && !d.Degraded {
			t.Errorf("leased token %d spent while Redis is down is not flagged Degraded", i+2)
		}
	}
	for i := range 2 {
		if d, err := r.Allow(t.Context(), "k", lim); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("lease spent, Redis down, request %d: %+v, %v; want ErrUnavailable", i, d, err)
		}
	}
	srv.Restart()
	var d Decision
	testkit.Eventually(t, 5*time.Second, "Allow without error after Redis restarted", func() bool {
		var err error
		d, err = r.Allow(t.Context(), "k", lim)
		return err == nil
	})
	if !d.Allowed || d.Degraded {
		t.Errorf("after the restart: %+v", d)
	}
}

// TestFastExpiredLeaseGoesBack: tokens a replica leased and did not spend
// within leaseLife go back to the bucket for the other replicas.
func TestFastExpiredLeaseGoesBack(t *testing.T) {
	_, b, lim := leasedByA(t, 4)
	// b is refused while a holds 3; within about leaseLife and a sweep, a
	// gives them back and b's next ask (at most leaseLife after its
	// refusal) gets them.
	// About 3 s: a sweep after the lease expires, then b asks again.
	testkit.Eventually(t, 10*time.Second, "a's unspent lease reached b", func() bool {
		d, err := b.Allow(t.Context(), "k", lim)
		if err != nil {
			t.Fatal(err)
		}
		return d.Allowed
	})
}

func TestFastPathAllocations(t *testing.T) {
	r := redisLimiter(t, redistest.Addr(t), redistest.Prefix(t))
	lim := fast(Limit{Rate: 1_000_000, Per: time.Second, Burst: 1_000_000_000})
	for range 50_000 { // let the batch grow
		if _, err := r.Allow(t.Context(), "k", lim); err != nil {
			t.Fatal(err)
		}
	}
	if n := testing.AllocsPerRun(10_000, func() { _, _ = r.Allow(t.Context(), "k", lim) }); n != 0 {
		t.Errorf("a fast-mode decision from the lease allocates %v times, want 0", n)
	}
}

// BenchmarkFastAllow is a fast-mode decision under a limit never reached
// (the burst is far above what a benchmark can spend; the rate alone is
// not: the fast path runs at tens of millions per second),
// from parallel goroutines on one key: spent from the lease, with a
// background refill now and then. Compare BenchmarkExactAllow (a Redis
// round trip each).
func BenchmarkFastAllow(b *testing.B) {
	benchAllow(b, fast(Limit{Rate: 1_000_000, Per: time.Second, Burst: 1_000_000_000}))
}

func BenchmarkExactAllow(b *testing.B) {
	benchAllow(b, Limit{Rate: 1_000_000, Per: time.Second, Burst: 1_000_000_000})
}

func benchAllow(b *testing.B, lim Limit) {
	r := redisLimiter(b, redistest.Addr(b), redistest.Prefix(b))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if d, err := r.Allow(context.Background(), "k", lim); err != nil || !d.Allowed {
				b.Errorf("%+v, %v", d, err)
				return
			}
		}
	})
}
