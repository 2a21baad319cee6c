package proxy

import (
	"errors"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keygate/keygate/internal/version"
)

// Label values come from small fixed sets only: route names from the
// config, methods folded to the list below, status codes folded to
// statusCodes (code.go).
var (
	methodLabels = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"}
	modeLabels   = [...]string{modeProxy: "proxy", modeCheck: "forward_auth"}
)

// durationBuckets are the buckets of the request and upstream duration
// histograms (seconds), the same so that the two can be compared.
var durationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// unmatchedRoute is the route label of requests that matched no route or
// were refused before matching.
const unmatchedRoute = "unmatched"

// Upstream error kinds, the values of keygate_upstream_errors_total's kind.
const (
	upstreamTimeout  = "timeout"
	upstreamConnect  = "connect"
	upstreamCanceled = "canceled"
	upstreamOther    = "other"
	upstreamAborted  = "aborted" // the response was cut off mid-body
)

func methodIndex(m string) int {
	switch m {
	case "GET":
		return 0
	case "HEAD":
		return 1
	case "POST":
		return 2
	case "PUT":
		return 3
	case "PATCH":
		return 4
	case "DELETE":
		return 5
	case "OPTIONS":
		return 6
	}
	return 7
}

// metrics are the proxy's collectors, registered once per Handler.
type metrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	upstream       *prometheus.HistogramVec
	upstreamErrors *prometheus.CounterVec
	inFlight       prometheus.Gauge
	limitDecisions *prometheus.CounterVec
	limitDegraded  prometheus.Gauge
	isDegraded     atomic.Bool // limitDegraded's value, so it is set only on a change
}

func newMetrics(reg prometheus.Registerer, build version.Info) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keygate_requests_total",
			Help: "Requests answered, by route, method, status code (a fixed list, others folded to other) and mode (proxy, or forward_auth: a check asked by an ingress).",
		}, []string{"route", "method", "code", "mode"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "keygate_request_duration_seconds",
			Help:    "Time from request to the end of the response, by route and mode (proxy, forward_auth).",
			Buckets: durationBuckets,
		}, []string{"route", "mode"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "keygate_upstream_duration_seconds",
			Help:    "Time from sending a request upstream to its response headers (or its failure), by route.",
			Buckets: durationBuckets,
		}, []string{"route"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keygate_upstream_errors_total",
			Help: "Upstream exchanges that failed, by route and kind (timeout, connect, canceled, aborted: cut off mid-body, other).",
		}, []string{"route", "kind"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "keygate_requests_in_flight",
			Help: "Requests being served now.",
		}),
		limitDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keygate_ratelimit_decisions_total",
			Help: "Rate-limit decisions, by route and result (allowed, limited, degraded: taken in process while the shared limiter was unreachable, fail_open, fail_closed).",
		}, []string{"route", "result"}),
		limitDegraded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "keygate_ratelimit_degraded",
			Help: "1 while the shared rate limiter cannot be reached and limits follow on_store_error.",
		}),
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "keygate_build_info",
		Help: "Always 1; the labels say which keygate is running: module version, commit, whether the checkout had uncommitted changes, Go version.",
	}, []string{"version", "revision", "modified", "goversion"})
	buildInfo.WithLabelValues(build.Version, build.Revision, strconv.FormatBool(build.Modified), build.GoVersion).Set(1)
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.upstream, m.upstreamErrors, m.inFlight, m.limitDecisions, m.limitDegraded, buildInfo} {
		if err := reg.Register(c); err != nil {
			return nil, errors.Join(errors.New("registering proxy metrics"), err)
		}
	}
	return m, nil
}

// routeMetrics are one route's label children, resolved when the route
// table is built so that a request costs no label look-up; the request
// counters, one per mode, method and code, are resolved on their first
// use, so that only the codes seen are exported.
type routeMetrics struct {
	name           string
	requestVec     *prometheus.CounterVec
	requests       *[len(modeLabels)][len(methodLabels)][numCodes]atomic.Pointer[prometheus.Counter]
	duration       [len(modeLabels)]prometheus.Observer
	upstream       prometheus.Observer
	upstreamErrors map[string]prometheus.Counter
	limits         map[string]prometheus.Counter // by rate-limit result
}

func (m *metrics) forRoute(name string) routeMetrics {
	rm := routeMetrics{name: name, requestVec: m.requests}
	rm.requests = new([len(modeLabels)][len(methodLabels)][numCodes]atomic.Pointer[prometheus.Counter])
	for k, mode := range modeLabels {
		rm.duration[k] = m.duration.WithLabelValues(name, mode)
	}
	rm.upstream = m.upstream.WithLabelValues(name)
	rm.upstreamErrors = make(map[string]prometheus.Counter, 5)
	for _, kind := range []string{upstreamTimeout, upstreamConnect, upstreamCanceled, upstreamAborted, upstreamOther} {
		rm.upstreamErrors[kind] = m.upstreamErrors.WithLabelValues(name, kind)
	}
	rm.limits = make(map[string]prometheus.Counter, 5)
	for _, res := range []string{limitAllowed, limitLimited, limitDegraded, limitOpen, limitClosed} {
		rm.limits[res] = m.limitDecisions.WithLabelValues(name, res)
	}
	return rm
}

// request counts one answered request.
func (rm *routeMetrics) request(mode mode, method string, status int) {
	i, j := methodIndex(method), codeIndex(status)
	p := &rm.requests[mode][i][j]
	c := p.Load()
	if c == nil {
		// WithLabelValues returns the same child every time, so a race
		// here stores the same counter twice.
		child := rm.requestVec.WithLabelValues(rm.name, methodLabels[i], codeLabels[j], modeLabels[mode])
		c = &child
		p.Store(c)
	}
	(*c).Inc()
}

// setLimitDegraded records whether the shared rate limiter is unreachable,
// touching the gauge only when that changes.
func (m *metrics) setLimitDegraded(on bool) {
	if m.isDegraded.Swap(on) != on {
		if on {
			m.limitDegraded.Set(1)
		} else {
			m.limitDegraded.Set(0)
		}
	}
}
