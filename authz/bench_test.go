package authz

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/store/embedded"
	redisstore "github.com/keygate/keygate/store/redis"
)

func BenchmarkVerifyCacheHit(b *testing.B) {
	s, v := benchSetup(b)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verify(ctx, v, readOrders, client); err != nil {
			b.Fatal(err)
		}
	}
}

func benchSetup(b *testing.B) (*Service, []string) {
	st, err := embedded.Open(b.Context(), config.Embedded{Path: filepath.Join(b.TempDir(), "k.db")}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	s, err := New(b.Context(), authConfig(), st, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	if _, err := s.CreateUser(b.Context(), User{Name: "u", APISets: []string{"orders"}, Scopes: []string{"read"}}); err != nil {
		b.Fatal(err)
	}
	tok, _, err := s.CreateKey(b.Context(), "u", KeySpec{Handle: "k"})
	if err != nil {
		b.Fatal(err)
	}
	return s, bearer(tok)
}

// BenchmarkVerifyMissRedis measures verification on a cache miss against
// a real Redis holding many credentials (KEYGATE_BENCH_CREDENTIALS, default
// 10000; the figure in docs/benchmarks.md uses 100000). Each iteration
// verifies a different credential on a replica whose cache has never seen
// it, so every one is a store look-up. It reports p50 and p99 in µs.
func BenchmarkVerifyMissRedis(b *testing.B) {
	n := 10000
	if v := os.Getenv("KEYGATE_BENCH_CREDENTIALS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	rc := config.Redis{Addrs: []string{redistest.Addr(b)}, KeyPrefix: redistest.Prefix(b), DialTimeout: time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second, PoolSize: 64}
	st, err := redisstore.New(b.Context(), rc, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	cfg := authConfig()
	cfg.CacheSize = n + 1000
	issuer, err := New(b.Context(), cfg, st, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer issuer.Close()
	if _, err := issuer.CreateUser(b.Context(), User{Name: "u", APISets: []string{"orders"}, Scopes: []string{"read"}}); err != nil {
		b.Fatal(err)
	}
	tokens := make([]string, n)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				tok, _, err := issuer.CreateKey(b.Context(), "u", KeySpec{Handle: "k" + strconv.Itoa(i)})
				if err != nil {
					failed.Add(1)
					continue
				}
				tokens[i] = tok
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		b.Fatalf("%d credentials could not be created", failed.Load())
	}
	st2, err := redisstore.New(b.Context(), rc, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st2.Close()
	replica, err := New(b.Context(), cfg, st2, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer replica.Close()
	ctx := b.Context()
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		v := bearer(tokens[i%n])
		i++
		t0 := time.Now()
		if _, err := replica.Verify(ctx, v, readOrders, client); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	if i > n {
		b.Logf("%d iterations over %d credentials: the last %d were cache hits", i, n, i-n)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
