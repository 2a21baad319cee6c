package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keygate/keygate/internal/redistest"
)

func redisLimiter(t *testing.T, addr, prefix string) *Redis {
	c := goredis.NewUniversalClient(&goredis.UniversalOptions{Addrs: []string{addr}})
	t.Cleanup(func() { c.Close() })
	return NewRedis(c, prefix, time.Second)
}

func TestDecisions(t *testing.T) {
	addr := redistest.Addr(t)
	local, err := NewLocal(1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, l := range map[string]Limiter{"local": local, "redis": redisLimiter(t, addr, redistest.Prefix(t))} {
		t.Run(name, func(t *testing.T) {
			lim := Limit{Rate: 10, Per: time.Second, Burst: 3}
			for i := range 3 {
				d, err := l.Allow(t.Context(), "k", lim)
				// redis_rate computes Remaining in floating point and may
				// round one below.
				if err != nil || !d.Allowed || d.Remaining > 2-i || d.Remaining < 1-i || d.Limit != 3 {
					t.Fatalf("request %d: %+v, %v", i, d, err)
				}
			}
			d, err := l.Allow(t.Context(), "k", lim)
			if err != nil || d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 100*time.Millisecond || d.Remaining != 0 {
				t.Errorf("over the burst: %+v, %v; want refused with a retry-after of at most 100ms", d, err)
			}
			if d, _ := l.Allow(t.Context(), "other", lim); !d.Allowed {
				t.Error("another key shares the bucket")
			}
			time.Sleep(110 * time.Millisecond)
			if d, _ := l.Allow(t.Context(), "k", lim); !d.Allowed {
				t.Errorf("after the retry-after: %+v", d)
			}
		})
	}
}

// TestRedisAccuracyAcrossReplicas drives two clients of one real Redis
// concurrently against one limit: together they admit the limit's rate
// (plus the burst) within 2%.
func TestRedisAccuracyAcrossReplicas(t *testing.T) {
	addr, prefix := redistest.Addr(t), redistest.Prefix(t)
	replicas := []*Redis{redisLimiter(t, addr, prefix), redisLimiter(t, addr, prefix)}
	lim := Limit{Rate: 200, Per: time.Second, Burst: 20}
	const run = 3 * time.Second
	var admitted atomic.Int64
	ctx, cancel := context.WithTimeout(t.Context(), run)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := replicas[i%2]
			for ctx.Err() == nil {
				d, err := r.Allow(context.Background(), "shared", lim)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	want := float64(lim.Burst) + float64(lim.Rate)*elapsed.Seconds()
	got := float64(admitted.Load())
	if got < want*0.98 || got > want*1.02 {
		t.Errorf("admitted %.0f in %v, want %.0f ± 2%%", got, elapsed, want)
	}
	t.Logf("admitted %.0f in %v (want %.0f)", got, elapsed, want)
}
