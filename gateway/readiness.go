package gateway

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// readyTimeout bounds the store check of one /readyz.
const readyTimeout = time.Second

// readyz answers whether this replica can serve: 200 while a config is
// loaded, the listeners are up (the handler answers) and the gateway is
// not draining; 503 otherwise. The store's state is checked on every call
// and reported apart, in the body's "store:" line (ok or unreachable) and
// in keygate_store_up: a replica whose store is down still answers the
// credentials it has cached and refuses the others with 503 on the request
// path, so it stays in its Service. With readiness.require_store it also
// answers 503 while the store does not answer.
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	cfg := g.cfg.Load()
	reason := ""
	switch {
	case g.shuttingDown.Load():
		reason = "shutting down"
	case cfg == nil:
		reason = "no config loaded"
	}
	storeState := "ok"
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	err := g.store.Ping(ctx)
	cancel()
	if err != nil {
		storeState = "unreachable"
		g.metrics.storeUp.Set(0)
		g.log.Warn("readiness: store unreachable", zap.Error(err))
		if reason == "" && cfg.Readiness.RequireStore {
			reason = "store unreachable (readiness.require_store)"
		}
	} else {
		g.metrics.storeUp.Set(1)
	}
	if reason != "" {
		g.metrics.ready.Set(0)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: " + reason + "\nstore: " + storeState + "\n"))
		return
	}
	g.metrics.ready.Set(1)
	_, _ = w.Write([]byte("ready\nstore: " + storeState + "\n"))
}
