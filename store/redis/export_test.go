package redis

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/keygate/keygate/config"
)

// NewCheckingEvery is New with the eviction policy checked every interval
// instead of every minute.
func NewCheckingEvery(ctx context.Context, cfg config.Redis, log *zap.Logger, reg prometheus.Registerer, interval time.Duration) (*Store, error) {
	return newStore(ctx, cfg, log, reg, interval)
}

// UnconfirmedCounter is keygate_store_replica_unconfirmed_total{op}.
func (s *Store) UnconfirmedCounter(op string) prometheus.Counter {
	return s.metrics.unconfirmed.WithLabelValues(op)
}

// CircuitCounters are keygate_store_circuit_open and
// keygate_store_short_circuited_total.
func (s *Store) CircuitCounters() (open prometheus.Gauge, shortCircuited prometheus.Counter) {
	return s.metrics.circuitOpen, s.metrics.shortCircuits
}
