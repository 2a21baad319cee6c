package redis

import (
	"context"
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// goRedisLog writes go-redis's own log lines (connection pool, Sentinel,
// Cluster; plain text on stderr by default) through zap, under the logger
// "go-redis", at a level read from the line: warn for failures, info for
// the rest (such as a Sentinel naming a new master).
type goRedisLog struct{ log *zap.Logger }

// failureWords mark a go-redis line as a failure.
var failureWords = []string{"fail", "error", "can't", "cannot", "unable", "timeout", "refused", "broken", "bad "}

func (l goRedisLog) Printf(_ context.Context, format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	level := zapcore.InfoLevel
	lower := strings.ToLower(msg)
	for _, w := range failureWords {
		if strings.Contains(lower, w) {
			level = zapcore.WarnLevel
			break
		}
	}
	if ce := l.log.Check(level, "go-redis: "+strings.TrimPrefix(msg, "redis: ")); ce != nil {
		ce.Write()
	}
}

// routeGoRedisLog makes log receive go-redis's log lines. go-redis has one
// logger per process: the Store built last sets it.
func routeGoRedisLog(log *zap.Logger) {
	goredis.SetLogger(goRedisLog{log: log.Named("go-redis")})
}
