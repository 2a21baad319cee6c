package authz

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// result is the label value of keygate_auth_decisions_total.
type result uint8

const (
	resultOK result = iota
	resultMissing
	resultMalformed
	resultUnknown
	resultBadToken
	resultExpired
	resultRevoked
	resultVoided
	resultScopeDenied
	resultStoreError
	resultKeyBlocked // too many wrong tokens for the ApiKey key lately
	numResults
)

var resultNames = [numResults]string{"ok", "missing", "malformed", "unknown", "bad_token", "expired", "revoked", "voided", "scope_denied", "store_error", "key_blocked"}

// pwResult is the label value of keygate_password_checks_total. Only ok
// and invalid cost a password hash.
type pwResult uint8

const (
	pwOK              pwResult = iota
	pwInvalid                  // hashed: unknown user, wrong password or disabled user
	pwTooManyFailures          // over max_password_failures_*: not hashed
	pwTooManyAtOnce            // over max_concurrent_password_checks_per_address: not hashed
	pwBusy                     // no turn within password_check_queue_timeout: not hashed
	pwStoreError
	numPwResults
)

var pwResultNames = [numPwResults]string{"ok", "invalid", "too_many_failures", "too_many_at_once", "busy", "store_error"}

type metrics struct {
	decisions   [numResults]prometheus.Counter
	duration    prometheus.Observer
	cacheHits   prometheus.Counter
	cacheMisses prometheus.Counter
	staleServed prometheus.Counter
	voided      prometheus.Counter
	degraded    prometheus.Gauge
	isDegraded  atomic.Bool
	passwords   [numPwResults]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keygate_auth_decisions_total",
		Help: "Credential checks, by result.",
	}, []string{"result"})
	duration := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "keygate_auth_duration_seconds",
		Help:    "Time to verify a credential.",
		Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .05},
	})
	cache := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keygate_auth_cache_total",
		Help: "Credential cache look-ups, by result (hit, miss, stale: served from an expired entry while the store is down).",
	}, []string{"result"})
	m := &metrics{
		duration:    duration,
		cacheHits:   cache.WithLabelValues("hit"),
		cacheMisses: cache.WithLabelValues("miss"),
		staleServed: cache.WithLabelValues("stale"),
		voided: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keygate_credentials_voided_total",
			Help: "ApiKey tokens voided after reaching the wrong-token threshold.",
		}),
		degraded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "keygate_auth_degraded",
			Help: "1 while the store cannot be reached and credentials are verified from cache only.",
		}),
	}
	for i, name := range resultNames {
		m.decisions[i] = decisions.WithLabelValues(name)
	}
	passwords := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keygate_password_checks_total",
		Help: "Password sign-ins, by result; only ok and invalid ran a password hash.",
	}, []string{"result"})
	for i, name := range pwResultNames {
		m.passwords[i] = passwords.WithLabelValues(name)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{decisions, duration, cache, m.voided, m.degraded, passwords} {
			if err := reg.Register(c); err != nil {
				return nil, errors.Join(errors.New("registering auth metrics"), err)
			}
		}
	}
	return m, nil
}

func (m *metrics) observe(r result, d time.Duration) {
	m.decisions[r].Inc()
	m.duration.Observe(d.Seconds())
}

func (m *metrics) storeError() {
	if !m.isDegraded.Swap(true) {
		m.degraded.Set(1)
	}
}

func (m *metrics) storeOK() {
	if m.isDegraded.Swap(false) {
		m.degraded.Set(0)
	}
}
