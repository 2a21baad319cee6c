package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/keygate/keygate/proxy"
)

// Listen takes the listeners (Options.Listeners, or binds them now: see
// Bind) and sets up the public listener's TLS. Addr, AdminAddr and
// HealthAddr tell where they are (useful with port 0). What it binds goes
// onto the closers: after an error, Close releases it.
func (g *Gateway) Listen() error {
	cfg := g.cfg.Load()
	ls := g.opts.Listeners // New has put their Close on the closers
	if ls == nil {
		var err error
		if ls, err = Bind(cfg); err != nil {
			return err
		}
		g.onClose(func() { _ = ls.Close() }) // a no-op for those whose server has shut down
	}
	g.publicL, g.adminL, g.healthL, g.plainL = ls.public, ls.admin, ls.health, ls.http
	httpPort := 0
	if g.plainL != nil {
		httpPort = portOf(g.plainL.Addr())
	}
	if ls.grpc != nil {
		g.serveGRPCOn(ls.grpc)
	}
	var err error
	if g.tls, err = g.buildTLS(cfg, portOf(g.publicL.Addr()), httpPort); err != nil {
		return err
	}
	if g.tls == nil {
		g.publicL = proxy.FramingListener(g.publicL) // see proxy.RefuseAmbiguousFraming
		return nil
	}
	g.onClose(g.tls.stop)
	g.publicL = tls.NewListener(g.publicL, g.tls.config)
	if g.plainL != nil {
		g.plain = redirectLimits.server(g.tls.plain, g.log, "http_redirect")
	}
	return nil
}

// HTTPAddr is the address of tls.http_listen, nil without one.
func (g *Gateway) HTTPAddr() net.Addr {
	if g.plainL == nil {
		return nil
	}
	return g.plainL.Addr()
}

// Addr is the public listener's address.
func (g *Gateway) Addr() net.Addr { return g.publicL.Addr() }

// AdminAddr is the admin listener's address.
func (g *Gateway) AdminAddr() net.Addr { return g.adminL.Addr() }

// HealthAddr is the health listener's address (/healthz, /readyz,
// /metrics).
func (g *Gateway) HealthAddr() net.Addr { return g.healthL.Addr() }

// Serve serves on the bound listeners until ctx is done or a server
// fails, then stops accepting, lets in-flight requests finish within
// server.shutdown_timeout and closes what New built (Close). It returns
// nil after a drain, also one whose deadline passed (the requests still in
// flight are then cut off and counted in a warn line).
//
// One run group owns every goroutine of the running gateway: the public,
// admin, health and tls.http_listen servers, the certificate manager, the config
// file watcher and the reloader of Options.Reload, and the shutdown that
// waits for the group's context. Close runs only once all of them have
// returned, so no reload or request is left running on a closed store.
func (g *Gateway) Serve(ctx context.Context) error {
	cfg := g.cfg.Load()
	grp, gctx := errgroup.WithContext(ctx)
	grp.Go(func() error { return serveOn(g.public, g.publicL) })
	grp.Go(func() error { return serveOn(g.admin, g.adminL) })
	grp.Go(func() error { return serveOn(g.health, g.healthL) })
	if g.plain != nil {
		grp.Go(func() error { return serveOn(g.plain, g.plainL) })
	}
	if g.grpc != nil {
		grp.Go(func() error { return g.grpc.Serve(g.grpcL) })
	}
	if g.tls != nil && g.tls.manage != nil {
		grp.Go(func() error { return g.tls.manage(gctx) })
	}
	if g.watch != nil {
		grp.Go(func() error { g.watch.run(gctx, g); return nil })
	}
	if g.opts.Reload != nil && g.opts.ConfigFile != "" {
		grp.Go(func() error { g.reloadOnSignal(gctx); return nil })
	}
	var drainErr error
	grp.Go(func() error {
		<-gctx.Done()
		drainErr = g.shutdown(cfg.Server.ShutdownTimeout)
		return nil
	})
	g.log.Info("keygate serving",
		zap.String("listen", g.publicL.Addr().String()),
		zap.String("tls", cfg.TLS.Mode),
		zap.String("admin_listen", g.adminL.Addr().String()),
		zap.String("health_listen", g.healthL.Addr().String()),
		zap.String("store", cfg.Store.Driver),
		zap.Int("routes", len(cfg.Routes)))

	serveErr := grp.Wait()
	if errors.Is(drainErr, context.DeadlineExceeded) {
		// What an orchestrator wants: the stop it asked for happened, so
		// the exit is clean (0); the requests cut off are named here.
		g.log.Warn("drain deadline passed: in-flight requests cut off",
			zap.Duration("shutdown_timeout", cfg.Server.ShutdownTimeout), zap.Int("in_flight", g.inFlight()))
		drainErr = nil
	}
	g.Close()
	if drainErr != nil {
		return fmt.Errorf("draining: %w", drainErr)
	}
	g.log.Info("keygate stopped")
	return serveErr
}

// shutdown stops the servers accepting and waits, up to timeout, for the
// requests in flight.
func (g *Gateway) shutdown(timeout time.Duration) error {
	g.shuttingDown.Store(true)
	g.log.Info("keygate shutting down: draining in-flight requests", zap.Duration("timeout", timeout))
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := g.public.Shutdown(sctx)
	_ = g.admin.Shutdown(sctx)
	_ = g.health.Shutdown(sctx)
	if g.plain != nil {
		_ = g.plain.Shutdown(sctx)
	}
	if g.grpc != nil {
		drained := make(chan struct{})
		go func() { g.grpc.GracefulStop(); close(drained) }()
		select {
		case <-drained:
		case <-sctx.Done():
			g.grpc.Stop()
		}
	}
	return err
}

// serverLimits are the fixed limits of the servers beside the public one
// (which takes its own from the server section).
type serverLimits struct {
	readHeader, read, write, idle time.Duration
	maxHeaderBytes                int // 0: net/http's default, 1 MB
}

var (
	// adminLimits: the admin and health listeners' clients are admin API
	// calls, profile downloads, the orchestrator's probes and the
	// metrics scraper.
	adminLimits = serverLimits{readHeader: 5 * time.Second, read: 10 * time.Second, write: 30 * time.Second, idle: 60 * time.Second}
	// redirectLimits: tls.http_listen answers nothing but redirects and
	// ACME challenges, so small requests and short timeouts.
	redirectLimits = serverLimits{readHeader: 5 * time.Second, read: 10 * time.Second, write: 10 * time.Second, idle: 30 * time.Second, maxHeaderBytes: 16 << 10}
)

// server is an http.Server with these limits, logging under name.
func (l serverLimits) server(h http.Handler, log *zap.Logger, name string) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.readHeader,
		ReadTimeout:       l.read,
		WriteTimeout:      l.write,
		IdleTimeout:       l.idle,
		MaxHeaderBytes:    l.maxHeaderBytes,
		ErrorLog:          zap.NewStdLog(log.Named(name)),
	}
}

func serveOn(s *http.Server, l net.Listener) error {
	if err := s.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Run is Listen then Serve; after a Listen error it closes the Gateway.
func (g *Gateway) Run(ctx context.Context) error {
	if err := g.Listen(); err != nil {
		g.Close()
		return err
	}
	return g.Serve(ctx)
}

// inFlight is keygate_requests_in_flight: the proxied requests being
// served.
func (g *Gateway) inFlight() int {
	mfs, err := g.reg.Gather()
	if err != nil {
		return -1
	}
	for _, mf := range mfs {
		if mf.GetName() == "keygate_requests_in_flight" && len(mf.GetMetric()) == 1 {
			return int(mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
	return -1
}
