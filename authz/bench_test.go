package authz

import (
	"errors"
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
)

func BenchmarkVerifyCacheHit(b *testing.B) {
	s, v := benchSetup(b)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verifier.Verify(ctx, v, readOrders, client); err != nil {
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
	s := newService(b, st, authConfig(), nil)
	if _, err := s.Accounts.CreateUser(b.Context(), User{Name: "u", APISets: []string{"orders"}, Scopes: []string{"read"}}); err != nil {
		b.Fatal(err)
	}
	tok, _, err := s.Accounts.CreateKey(b.Context(), "u", KeySpec{Handle: "k"})
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
	rc := redisConfig(b, redistest.Addr(b))
	rc.PoolSize = 64
	st := openRedis(b, rc)
	cfg := authConfig()
	cfg.CacheSize = n + 1000
	issuer := newService(b, st, cfg, nil)
	if _, err := issuer.Accounts.CreateUser(b.Context(), User{Name: "u", APISets: []string{"orders"}, Scopes: []string{"read"}}); err != nil {
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
				tok, _, err := issuer.Accounts.CreateKey(b.Context(), "u", KeySpec{Handle: "k" + strconv.Itoa(i)})
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
	st2 := openRedis(b, rc)
	replica := newService(b, st2, cfg, nil)
	ctx := b.Context()
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		v := bearer(tokens[i%n])
		i++
		t0 := time.Now()
		if _, err := replica.Verifier.Verify(ctx, v, readOrders, client); err != nil {
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

// BenchmarkProbes measures what an attacker who knows (or guesses) an
// ApiKey key sees: the latency of a wrong token for an existing key and of
// an unknown key, against a real Redis, on a replica that counts every
// wrong token (the lockout threshold is out of reach, so the token is never
// void). "cold" probes come after the cache has gone stale (a probe every
// cache_ttl or so), "warm" ones straight after each other. Strikes are
// recorded after each answer; the loop waits for them between probes, as
// an attacker's paced probes would, so that they do not queue. It reports
// the median and p90 of each (ns), their ratio unknown/wrong, and the
// chance that a wrong token's probe is the slower of a pair.
func BenchmarkProbes(b *testing.B) {
	rc := redisConfig(b, redistest.Addr(b))
	rc.PoolSize = 16
	st := openRedis(b, rc)
	cfg := authConfig()
	cfg.LockoutThreshold = 1 << 30
	s := newService(b, st, cfg, nil)
	if _, err := s.Accounts.CreateUser(b.Context(), User{Name: "u", APISets: []string{"orders"}, Scopes: []string{"read"}}); err != nil {
		b.Fatal(err)
	}
	key, _, err := s.Accounts.NewAPIKeyToken(b.Context(), "u")
	if err != nil {
		b.Fatal(err)
	}
	wrong := apiKey(key, newSecret(prefixAPITok))
	unknown := apiKey(newSecret(prefixAPIKey), newSecret(prefixAPITok))
	for _, cold := range []bool{true, false} {
		name := "warm"
		if cold {
			name = "cold"
		}
		b.Run(name, func(b *testing.B) {
			ctx := b.Context()
			var w, u []time.Duration
			probe := func(v []string, into *[]time.Duration) {
				if cold {
					s.Verifier.invalidateAll()
				}
				t0 := time.Now()
				if _, err := s.Verifier.Verify(ctx, v, readOrders, client); !errors.Is(err, ErrInvalid) {
					b.Fatalf("probe: %v, want ErrInvalid", err)
				}
				*into = append(*into, time.Since(t0))
				s.Verifier.drain()
			}
			i := 0
			for b.Loop() {
				// Alternate which goes first, so neither always follows
				// the other's strike.
				if i%2 == 0 {
					probe(wrong, &w)
					probe(unknown, &u)
				} else {
					probe(unknown, &u)
					probe(wrong, &w)
				}
				i++
			}
			slices.Sort(w)
			slices.Sort(u)
			q := func(l []time.Duration, p int) float64 { return float64(l[len(l)*p/100]) }
			b.ReportMetric(q(w, 50), "wrong-p50-ns")
			b.ReportMetric(q(w, 90), "wrong-p90-ns")
			b.ReportMetric(q(u, 50), "unknown-p50-ns")
			b.ReportMetric(q(u, 90), "unknown-p90-ns")
			b.ReportMetric(q(u, 50)/q(w, 50), "p50-unknown/wrong")
			b.ReportMetric(q(u, 90)/q(w, 90), "p90-unknown/wrong")
			// How often one probe of each tells them apart: the chance
			// that a wrong token takes longer than an unknown key (0.5:
			// a coin toss).
			var slower, j int
			for _, d := range w {
				for j < len(u) && u[j] < d {
					j++
				}
				slower += j
			}
			b.ReportMetric(float64(slower)/float64(len(w)*len(u)), "P(wrong>unknown)")
		})
	}
}
