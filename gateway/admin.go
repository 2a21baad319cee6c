package gateway

import (
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keygate/keygate/api/admin"
)

// adminHandler serves the admin listener (admin_listen, loopback by
// default):
//
//	/admin/        the admin API (api/admin): users and credentials, for
//	               the bootstrap admin token (Options.AdminToken) or users
//	               with the ADMIN authority only
//	/debug/pprof/  Go profiles, only with pprof: true
//
// The probes and the metrics are on the health listener (healthHandler),
// so that the admin API need not be opened to the orchestrator.
func (g *Gateway) adminHandler() http.Handler {
	mux := http.NewServeMux()
	api, err := admin.New(g.auth, g.cfg.Load(), admin.Options{Logger: g.log, Token: g.opts.AdminToken, Quotas: g.quotaUsage})
	if err != nil {
		panic(err) // only without a credential service, which New always builds
	}
	mux.Handle("/admin/", api)
	mux.Handle("/admin", api) // a JSON 404 rather than a redirect
	if g.cfg.Load().Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// healthHandler serves the health listener (health_listen):
//
//	/healthz  200 while the process runs (liveness)
//	/readyz   200 when this replica can serve: a config is loaded, the
//	          listeners are up and it is not draining (readiness.go)
//	/metrics  Prometheus metrics
//
// None asks for authentication: they are for the orchestrator and the
// metrics scraper, and tell nothing about credentials.
func (g *Gateway) healthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.reg, promhttp.HandlerOpts{Registry: g.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", g.readyz)
	return mux
}

// gatewayMetrics are the process-level metrics.
type gatewayMetrics struct {
	reloads    *prometheus.CounterVec
	lastReload prometheus.Gauge
	ready      prometheus.Gauge
	storeUp    prometheus.Gauge
	certs      *certExpiry
}

func newGatewayMetrics(reg prometheus.Registerer) *gatewayMetrics {
	m := &gatewayMetrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keygate_config_reloads_total",
			Help: "Config reloads, by result (ok, error).",
		}, []string{"result"}),
		lastReload: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "keygate_config_last_reload_success_timestamp_seconds",
			Help: "When the running config was loaded: at start, then at each successful reload (Unix seconds).",
		}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "keygate_ready",
			Help: "1 if the last readiness check passed, else 0.",
		}),
	}
	m.storeUp = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "keygate_store_up",
		Help: "1 if the store answered the last readiness check, else 0.",
	})
	m.certs = newCertExpiry()
	reg.MustRegister(m.reloads, m.lastReload, m.ready, m.storeUp, m.certs)
	m.lastReload.SetToCurrentTime() // New is given a loaded config
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("error")
	return m
}
