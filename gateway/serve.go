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

// Listen binds the public and admin listeners (and tls.http_listen) and
// sets up the public listener's TLS. Addr and AdminAddr tell where they
// are (useful with port 0). What it binds goes onto the closers: after an
// error, Close releases it.
func (g *Gateway) Listen() error {
	cfg := g.cfg.Load()
	listen := func(field, addr string) (net.Listener, error) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		g.onClose(func() { _ = l.Close() }) // a no-op once its server has shut down
		return l, nil
	}
	var err error
	if g.publicL, err = listen("listen", cfg.Listen); err != nil {
		return err
	}
	if g.adminL, err = listen("admin_listen", cfg.AdminListen); err != nil {
		return err
	}
	httpPort := 0
	if cfg.TLS.HTTPListen != "" {
		if g.plainL, err = listen("tls.http_listen", cfg.TLS.HTTPListen); err != nil {
			return err
		}
		httpPort = portOf(g.plainL.Addr())
	}
	if a := cfg.ForwardAuth.GRPCListen; a != "" && cfg.ForwardAuth.On() {
		if err := g.listenGRPC(a); err != nil {
			return fmt.Errorf("forward_auth.grpc_listen: %w", err)
		}
	}
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

// Serve serves on the bound listeners until ctx is done or a server
// fails, then stops accepting, lets in-flight requests finish within
// server.shutdown_timeout and closes what New built (Close). It returns
// nil after a drain, also one whose deadline passed (the requests still in
// flight are then cut off and counted in a warn line).
//
// One run group owns every goroutine of the running gateway: the public,
// admin and tls.http_listen servers, the certificate manager, the config
// file watcher and the reloader of Options.Reload, and the shutdown that
// waits for the group's context. Close runs only once all of them have
// returned, so no reload or request is left running on a closed store.
func (g *Gateway) Serve(ctx context.Context) error {
	cfg := g.cfg.Load()
	grp, gctx := errgroup.WithContext(ctx)
	grp.Go(func() error { return serveOn(g.public, g.publicL) })
	grp.Go(func() error { return serveOn(g.admin, g.adminL) })
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
	// adminLimits: the admin listener's clients are the orchestrator's
	// probes, the metrics scraper and admin API calls.
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
