package gateway

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/keygate/keygate/internal/redistest"
)

// TestRedisEvictionPolicy: a Redis that can evict shows on /metrics, and
// store.redis.require_noeviction keeps keygate from starting on it.
func TestRedisEvictionPolicy(t *testing.T) {
	srv := redistest.Start(t, "--maxmemory-policy", "allkeys-lru")
	y := func(require bool) string {
		return fmt.Sprintf("listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nhealth_listen: 127.0.0.1:0\nstore: {driver: redis, redis: {addrs: [%q], key_prefix: %q, require_noeviction: %t}}\n%s",
			srv.Addr(), redistest.Prefix(t), require, route)
	}
	g, _ := start(t, parse(t, y(false)))
	if _, metrics := getStatus(t, "http://"+g.HealthAddr().String()+"/metrics"); !strings.Contains(metrics, "\nkeygate_store_redis_eviction_possible 1\n") {
		t.Errorf("/metrics has no keygate_store_redis_eviction_possible 1")
	}

	_, err := New(context.Background(), parse(t, y(true)), Options{Logger: zap.NewNop()})
	if err == nil {
		t.Fatal("New with require_noeviction on an allkeys-lru Redis: got no error")
	}
	for _, want := range []string{"store.redis.require_noeviction", "maxmemory-policy allkeys-lru"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("New with require_noeviction: got %q, want it to say %q", err, want)
		}
	}
}
