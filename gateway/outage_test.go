package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/echo"
	"github.com/keygate/keygate/internal/redistest"
)

// TestOutageCostsNoWait: once Redis is known to be down, the circuit
// breaker stops keygate from asking it. Credentials verified within
// stale_if_error are answered from the cache without a store call (the
// calls are short-circuited, counted) and unknown ones get 503 the same
// way; the metrics show the open circuit. When Redis returns, the probe
// closes the circuit and new credentials verify again.
func TestOutageCostsNoWait(t *testing.T) {
	srv, g, base, warm, cold := warmOnRedis(t)
	health := "http://" + g.HealthAddr().String()
	srv.Kill()
	time.Sleep(150 * time.Millisecond) // past cache_ttl: every check wants the store

	// A few requests find out that Redis is gone; the rest never ask.
	const n = 200
	for i := range n {
		if code, _, body := do(t, "GET", base, "Bearer "+warm); code != 200 {
			t.Fatalf("request %d with a recently verified credential, Redis down: %d %s", i, code, body)
		}
	}
	if code, h, _ := do(t, "GET", base, "Bearer "+cold); code != 503 || h.Get("Retry-After") == "" {
		t.Errorf("uncached credential, Redis down: %d, want 503 with Retry-After", code)
	}
	m := metricValues(t, health)
	if m["keygate_store_circuit_open"] != 1 {
		t.Errorf("keygate_store_circuit_open = %v, want 1", m["keygate_store_circuit_open"])
	}
	if sc := m["keygate_store_short_circuited_total"]; sc < n-10 {
		t.Errorf("%v of %d+1 store calls short-circuited: most requests still waited for a dead Redis", sc, n)
	}

	srv.Restart()
	waitFor(t, 10*time.Second, "the circuit to close after Redis returned", func() bool {
		return metricValues(t, health)["keygate_store_circuit_open"] == 0
	})
	newAlice(t, g.Auth())
	fresh := namedKey(t, g, "alice", "after")
	if code, _, _ := do(t, "GET", base, "Bearer "+fresh); code != 200 {
		t.Errorf("a key made after Redis returned: %d, want 200", code)
	}
}

// metricValues scrapes the health listener's /metrics into name{labels} →
// value (names without labels as they are).
func metricValues(t *testing.T, health string) map[string]float64 {
	t.Helper()
	_, _, body := do(t, "GET", health+"/metrics", "")
	out := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BenchmarkCachedDuringOutage: the latency of requests with recently
// verified credentials from 8 clients at once, with Redis up (cache_ttl
// 1s: nearly every check a cache hit) and with Redis killed (every check
// past cache_ttl, answered from stale_if_error while the circuit is
// open). Reports p50 and p99 in µs; compare the sub-benchmarks (the
// target: within 2× of normal).
func BenchmarkCachedDuringOutage(b *testing.B) {
	srv := redistest.Start(b)
	up := httptest.NewServer(echo.Handler{})
	b.Cleanup(up.Close)
	cfg, err := config.Parse("b.yaml", []byte(redisGateway(srv.Addr(), redistest.Prefix(b), up.URL, "  cache_ttl: 1s\n  stale_if_error: 10m")), nil)
	if err != nil {
		b.Fatal(err)
	}
	g, err := New(b.Context(), cfg, Options{Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	if err := g.Listen(); err != nil {
		g.Close()
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	if _, err := g.Auth().Accounts.CreateUser(b.Context(), authz.User{Name: "alice", APISets: []string{"orders"}, Scopes: []string{"read"}}); err != nil {
		b.Fatal(err)
	}
	const clients = 8
	tokens := make([]string, clients)
	for i := range tokens {
		if tokens[i], _, err = g.Auth().Accounts.CreateKey(b.Context(), "alice", authz.KeySpec{Handle: fmt.Sprintf("k%d", i)}); err != nil {
			b.Fatal(err)
		}
	}
	url := "http://" + g.Addr().String() + "/orders/1"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	run := func(b *testing.B) {
		var mu sync.Mutex
		var lat []time.Duration
		var next atomic.Int64
		var wg sync.WaitGroup
		b.ResetTimer()
		for c := range clients {
			wg.Go(func() {
				var mine []time.Duration
				for next.Add(1) <= int64(b.N) {
					req, _ := http.NewRequest("GET", url, nil)
					req.Header.Set("Authorization", "Bearer "+tokens[c])
					t0 := time.Now()
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
		}
		wg.Wait()
		b.StopTimer()
		slices.Sort(lat)
		if len(lat) > 0 {
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		}
	}
	for _, tok := range tokens { // verified once: cached from here on
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if resp, err := client.Do(req); err != nil || resp.StatusCode != 200 {
			b.Fatalf("warm-up: %v %v", resp, err)
		} else {
			resp.Body.Close()
		}
	}
	b.Run("redis-up", run)
	srv.Kill()
	time.Sleep(1100 * time.Millisecond) // past cache_ttl: every check wants the store
	b.Run("redis-down", run)
}
