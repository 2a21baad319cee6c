package ratelimit

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/internal/testkit"
)

func redisLimiter(t testing.TB, addr, prefix string) *Redis {
	c := goredis.NewUniversalClient(&goredis.UniversalOptions{Addrs: []string{addr}})
	r, err := NewRedis(c, prefix, time.Second, 1000)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); c.Close() })
	return r
}

// fast is l in fast mode.
func fast(l Limit) Limit { l.Fast = true; return l }

func TestDecisions(t *testing.T) {
	addr := redistest.Addr(t)
	clock := &fakeClock{t: time.Now()}
	local, err := NewLocal(1000, clock.now)
	if err != nil {
		t.Fatal(err)
	}
	lim := Limit{Rate: 10, Per: time.Second, Burst: 3}
	for _, c := range []struct {
		name string
		l    Limiter
		lim  Limit
		pass func(time.Duration) // lets time pass for the limiter
	}{
		{"local", local, lim, clock.add},
		// Redis buckets run on the server's clock: only real time passes them.
		{"redis exact", redisLimiter(t, addr, redistest.Prefix(t)), lim, time.Sleep},
		{"redis fast", redisLimiter(t, addr, redistest.Prefix(t)), fast(lim), time.Sleep},
	} {
		t.Run(c.name, func(t *testing.T) {
			for i := range 3 {
				d, err := c.l.Allow(t.Context(), "k", c.lim)
				// redis_rate computes Remaining in floating point and may
				// round one below.
				if err != nil || !d.Allowed || d.Remaining > 2-i || d.Remaining < 1-i || d.Limit != 3 {
					t.Fatalf("request %d: %+v, %v", i, d, err)
				}
			}
			d, err := c.l.Allow(t.Context(), "k", c.lim)
			if err != nil || d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 100*time.Millisecond || d.Remaining != 0 {
				t.Errorf("over the burst: %+v, %v; want refused with a retry-after of at most 100ms", d, err)
			}
			if d, _ := c.l.Allow(t.Context(), "other", c.lim); !d.Allowed {
				t.Error("another key shares the bucket")
			}
			c.pass(110 * time.Millisecond)
			if d, _ := c.l.Allow(t.Context(), "k", c.lim); !d.Allowed {
				t.Errorf("after the retry-after: %+v", d)
			}
		})
	}
}

// drive runs 8 goroutines over the replicas against one limit for run and
// returns how many requests were admitted and over how long.
func drive(t *testing.T, replicas []*Redis, lim Limit, run time.Duration) (int64, time.Duration) {
	var admitted atomic.Int64
	ctx, cancel := context.WithTimeout(t.Context(), run)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			r := replicas[i%len(replicas)]
			for ctx.Err() == nil {
				d, err := r.Allow(context.Background(), "shared", lim)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					admitted.Add(1)
				} else {
					time.Sleep(100 * time.Microsecond) // keep demand far above the rate without spinning
				}
			}
		})
	}
	wg.Wait()
	return admitted.Load(), time.Since(start)
}

// The accuracy tests drive two limiters with their own Redis clients (two
// replicas) on one real redis-server concurrently for 10 s against 200/s
// with a burst of 100. The bucket starts full, so the expected count is
// the burst plus the rate times the elapsed time: 100 + 200·10 = 2100.

func TestExactAccuracyAcrossReplicas(t *testing.T) {
	t.Parallel()
	addr, prefix := redistest.Addr(t), redistest.Prefix(t)
	lim := Limit{Rate: 200, Per: time.Second, Burst: 100}
	got, elapsed := drive(t, []*Redis{redisLimiter(t, addr, prefix), redisLimiter(t, addr, prefix)}, lim, 10*time.Second)
	checkAccuracy(t, got, elapsed, lim, 0.02)
}

func TestFastAccuracyAcrossReplicas(t *testing.T) {
	t.Parallel()
	addr, prefix := redistest.Addr(t), redistest.Prefix(t)
	lim := fast(Limit{Rate: 200, Per: time.Second, Burst: 100})
	got, elapsed := drive(t, []*Redis{redisLimiter(t, addr, prefix), redisLimiter(t, addr, prefix)}, lim, 10*time.Second)
	checkAccuracy(t, got, elapsed, lim, 0.10)
}

func checkAccuracy(t *testing.T, got int64, elapsed time.Duration, lim Limit, tolerance float64) {
	t.Helper()
	want := float64(lim.Burst) + float64(lim.Rate)*elapsed.Seconds()/lim.Per.Seconds()
	if g := float64(got); g < want*(1-tolerance) || g > want*(1+tolerance) {
		t.Errorf("admitted %d in %v, want %.0f ± %.0f%%", got, elapsed, want, tolerance*100)
	}
	t.Logf("admitted %d in %v (want %.0f)", got, elapsed, want)
}

// scriptCalls is how many scripts the server has run.
func scriptCalls(t *testing.T, c *goredis.Client) int {
	info, err := c.Info(t.Context(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(info, "\n") {
		if !strings.HasPrefix(line, "cmdstat_eval") {
			continue
		}
		_, rest, _ := strings.Cut(line, "calls=")
		calls, _, _ := strings.Cut(rest, ",")
		v, _ := strconv.Atoi(calls)
		n += v
	}
	return n
}

// TestFastRoundTrips: under a limit that is never reached, fast mode
// asks Redis a handful of times for thousands of decisions, and every
// decision is allowed.
func TestFastRoundTrips(t *testing.T) {
	srv := redistest.Start(t)
	r := redisLimiter(t, srv.Addr(), redistest.Prefix(t))
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	before := scriptCalls(t, admin)
	lim := fast(Limit{Rate: 1_000_000, Per: time.Second, Burst: 1_000_000})
	const requests = 20_000
	for i := range requests {
		if d, err := r.Allow(t.Context(), "k", lim); err != nil || !d.Allowed {
			t.Fatalf("request %d: %+v, %v", i, d, err)
		}
	}
	if calls := scriptCalls(t, admin) - before; calls > requests/100 {
		t.Errorf("%d requests cost %d Redis scripts, want at most %d", requests, calls, requests/100)
	} else {
		t.Logf("%d requests cost %d Redis scripts", requests, calls)
	}
}

// TestFastGivesBack: Close returns a replica's unspent lease, so another
// replica can use it.
func TestFastGivesBack(t *testing.T) {
	a, b, lim := leasedByA(t, 8)
	waitIdle(t, a, "k")
	if d, _ := b.Allow(t.Context(), "k", lim); d.Allowed || d.RetryAfter < 59*time.Minute {
		t.Fatalf("b while a holds the other 7 of the burst: %+v, want refused for about an hour", d)
	}
	a.Close()
	b.forget("k") // b would ask Redis again within leaseLife anyway
	for i := range 7 {
		if d, err := b.Allow(t.Context(), "k", lim); err != nil || !d.Allowed {
			t.Fatalf("after a gave its lease back, b's request %d: %+v, %v", i, d, err)
		}
	}
	if d, _ := b.Allow(t.Context(), "k", lim); d.Allowed {
		t.Errorf("b was allowed past the burst: %+v", d)
	}
}

// leasedByA returns two replicas a and b of one Redis limiter and a fast
// limit of one an hour with burst and batch n, after a's first request
// on "k", allowed, which leased a batch.
func leasedByA(t *testing.T, n int) (a, b *Redis, lim Limit) {
	t.Helper()
	addr, prefix := redistest.Addr(t), redistest.Prefix(t)
	lim = fast(Limit{Rate: 1, Per: time.Hour, Burst: n, Batch: n})
	a, b = redisLimiter(t, addr, prefix), redisLimiter(t, addr, prefix)
	if d, err := a.Allow(t.Context(), "k", lim); err != nil || !d.Allowed {
		t.Fatalf("first request: %+v, %v", d, err)
	}
	return a, b, lim
}

// waitIdle waits until r's lease for key has no refill in flight.
func waitIdle(t *testing.T, r *Redis, key string) {
	t.Helper()
	testkit.Eventually(t, 3*time.Second, "the refill finished", func() bool {
		e, ok := r.leases.GetIfPresent(key)
		if !ok {
			t.Fatal("no lease")
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.inflight == nil
	})
}

// forget drops r's state for key (for tests).
func (r *Redis) forget(key string) { r.leases.Invalidate(key) }
