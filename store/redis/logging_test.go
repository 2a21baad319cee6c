package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/internal/testkit"
	"github.com/keygate/keygate/store"
)

// TestGoRedisLogsThroughZap stops a real redis-server under a Store: the
// line go-redis's connection pool writes about the failed dials must come
// through the Store's zap logger (named go-redis, at warn level), not as
// plain text on stderr.
func TestGoRedisLogsThroughZap(t *testing.T) {
	srv := redistest.Start(t)
	s, logs := observedStore(t, cfg(t, srv.Addr()), zapcore.DebugLevel, nil)
	srv.Stop()
	testkit.Eventually(t, 20*time.Second, "a go-redis line through zap", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Get with Redis stopped: %v, want ErrUnavailable", err)
		}
		return logs.FilterLoggerName("go-redis").Len() > 0
	})
	for _, e := range logs.FilterLoggerName("go-redis").All() {
		if e.Level != zapcore.WarnLevel {
			t.Errorf("go-redis line %q at %s, want warn (a failure)", e.Message, e.Level)
		}
		t.Logf("go-redis line through zap: %s %q", e.Level, e.Message)
	}
}
