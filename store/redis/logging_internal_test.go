package redis

import (
	"context"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestGoRedisLogLevels: a go-redis line about a failure is a warning, one
// about what happened (a Sentinel naming a new master) is info.
func TestGoRedisLogLevels(t *testing.T) {
	for _, tc := range []struct {
		format string
		args   []any
		want   zapcore.Level
	}{
		{"redis: connection pool: failed to dial after %d attempts: %v", []any{5, "connection refused"}, zapcore.WarnLevel},
		{"sentinel: new master=%q addr=%q", []any{"keygate", "10.0.0.2:6379"}, zapcore.InfoLevel},
		{"redis: %s: discarding bad PubSub connection: %v", []any{"x", "EOF"}, zapcore.WarnLevel},
	} {
		core, logs := observer.New(zapcore.DebugLevel)
		goRedisLog{log: zap.New(core)}.Printf(context.Background(), tc.format, tc.args...)
		got := logs.All()
		if len(got) != 1 || got[0].Level != tc.want {
			t.Errorf("Printf(%q): %v, want one line at %s", tc.format, got, tc.want)
		}
	}
}
