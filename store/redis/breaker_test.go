package redis_test

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zapcore"

	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/store"
)

// TestCircuitBreaker: with Redis gone (killed, or stalled so that calls
// time out), the first few calls fail by themselves; then the breaker
// opens and every call fails at once with store.ErrUnavailable without
// being sent (counted as short-circuited), logged once; when Redis answers
// again the background probe closes it and calls go through.
func TestCircuitBreaker(t *testing.T) {
	for _, how := range []string{"killed", "stalled"} {
		t.Run(how, func(t *testing.T) {
			srv := redistest.Start(t)
			s, logs := observedStore(t, cfg(t, srv.Addr()), zapcore.InfoLevel, prometheus.NewRegistry())
			open, shorted := s.CircuitCounters()
			ctx := t.Context()
			if _, err := s.Put(ctx, "cred/a", []byte("v"), store.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			if how == "killed" {
				srv.Kill()
			} else {
				srv.Pause()
				t.Cleanup(srv.Resume)
			}
			for i := 0; !s.Down(); i++ {
				if i == 10 {
					t.Fatalf("after %d failed calls the breaker is still closed", i)
				}
				if _, err := s.Get(ctx, "cred/a"); !errors.Is(err, store.ErrUnavailable) {
					t.Fatalf("call %d with Redis %s: %v, want ErrUnavailable", i, how, err)
				}
			}
			if testutil.ToFloat64(open) != 1 {
				t.Error("keygate_store_circuit_open is not 1 while the breaker is open")
			}
			before := testutil.ToFloat64(shorted)
			for range 50 {
				if _, err := s.Get(ctx, "cred/a"); !errors.Is(err, store.ErrUnavailable) {
					t.Fatalf("open breaker: %v, want ErrUnavailable", err)
				}
			}
			if n := testutil.ToFloat64(shorted) - before; n != 50 {
				t.Errorf("%v of 50 calls short-circuited, want all: they were sent to a Redis known to be down", n)
			}
			if n := logs.FilterMessageSnippet("redis unreachable").Len(); n != 1 {
				t.Errorf("%d 'unreachable' lines, want 1", n)
			}

			if how == "killed" {
				srv.Restart()
			} else {
				srv.Resume()
			}
			deadline := time.Now().Add(10 * time.Second)
			for s.Down() && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if s.Down() {
				t.Fatal("Redis answers again, but the breaker stayed open for 10s")
			}
			if testutil.ToFloat64(open) != 0 || logs.FilterMessageSnippet("answers again").Len() != 1 {
				t.Errorf("closed: gauge %v, logs %v", testutil.ToFloat64(open), logs.All())
			}
			if _, err := s.Put(ctx, "cred/b", []byte("v"), store.WriteOptions{}); err != nil {
				t.Errorf("a call after Redis returned: %v", err)
			}
		})
	}
}
