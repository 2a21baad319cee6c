package redis

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// ops are the values of the op label: one per Store method that talks to
// Redis.
var ops = []string{
	"get", "create", "put", "update", "delete", "list",
	"incr", "counter", "reset_counter",
	"strike", "strikes", "reset_strikes", "clear_strikes",
	"publish", "subscribe", "ping",
}

// confirmedOps are the ops whose writes wait for a replica (confirm).
var confirmedOps = []string{"create", "put", "update", "delete", "strike"}

// metrics are the store's Prometheus collectors.
type metrics struct {
	// resubscribes counts subscriptions re-established after a lost
	// connection (each one sent a Resync).
	resubscribes prometheus.Counter
	// errors counts calls that failed with ErrUnavailable, by op.
	errors *prometheus.CounterVec
	// evictionPossible is 1 when a master's maxmemory-policy can evict
	// keys, 0 when every master reports noeviction, -1 when a policy could
	// not be read and none can evict.
	evictionPossible prometheus.Gauge
	// unconfirmed counts writes no replica confirmed within
	// store.redis.replica_wait, by op.
	unconfirmed *prometheus.CounterVec
	// circuitOpen is 1 while the breaker fails commands without sending
	// them; shortCircuits counts those commands.
	circuitOpen   prometheus.Gauge
	shortCircuits prometheus.Counter
	// subscriptionUp is 1 while a subscription on the channel is
	// established, 0 while it is lost and being retried.
	subscriptionUp *prometheus.GaugeVec
}

// newMetrics makes the collectors and registers them on reg unless it is
// nil. A collector already registered by another Store on the same reg is
// shared.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		resubscribes: prometheus.NewCounter(prometheus.CounterOpts{Name: "keygate_store_pubsub_resubscribes_total",
			Help: "Redis pub/sub subscriptions re-established after a lost connection."}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keygate_store_errors_total",
			Help: "Store calls that failed because Redis was unavailable, by operation."}, []string{"op"}),
		evictionPossible: prometheus.NewGauge(prometheus.GaugeOpts{Name: "keygate_store_redis_eviction_possible",
			Help: "1 when a Redis master's maxmemory-policy can evict keys (anything but noeviction), 0 when every master reports noeviction, -1 when a policy could not be read."}),
		unconfirmed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keygate_store_replica_unconfirmed_total",
			Help: "Record writes, deletes and voids that no Redis replica confirmed within store.redis.replica_wait (WAIT), by operation: a failover then could lose them."}, []string{"op"}),
		circuitOpen: prometheus.NewGauge(prometheus.GaugeOpts{Name: "keygate_store_circuit_open",
			Help: "1 while Redis is known to be unreachable and store calls fail at once (the circuit breaker is open), 0 otherwise."}),
		shortCircuits: prometheus.NewCounter(prometheus.CounterOpts{Name: "keygate_store_short_circuited_total",
			Help: "Redis commands (or pipelines) failed at once, without being sent, while the circuit breaker was open."}),
		subscriptionUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "keygate_store_subscription_up",
			Help: "1 while the Redis pub/sub subscription to the channel is established, 0 while it is lost (invalidations from other replicas do not arrive; the cache's effective TTL is shortened)."}, []string{"channel"}),
	}
	for _, op := range ops {
		m.errors.WithLabelValues(op)
	}
	for _, op := range confirmedOps {
		m.unconfirmed.WithLabelValues(op)
	}
	if reg == nil {
		return m, nil
	}
	for _, f := range []field{
		fieldOf(&m.resubscribes), fieldOf(&m.errors), fieldOf(&m.evictionPossible), fieldOf(&m.unconfirmed),
		fieldOf(&m.circuitOpen), fieldOf(&m.shortCircuits), fieldOf(&m.subscriptionUp),
	} {
		if err := f.register(reg); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// field is one of the metrics' collectors, registered in place.
type field interface {
	register(reg prometheus.Registerer) error
}

type collectorField[C prometheus.Collector] struct{ p *C }

func fieldOf[C prometheus.Collector](p *C) field { return collectorField[C]{p} }

// register registers the collector, or puts the equal one already
// registered in its place.
func (f collectorField[C]) register(reg prometheus.Registerer) (err error) {
	*f.p, err = register(reg, *f.p)
	return err
}

// register registers c, or returns the equal collector already registered.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	if err != nil {
		var zero C
		return zero, err
	}
	return c, nil
}
