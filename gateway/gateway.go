// Package gateway is the keygate process: it builds the pieces from a
// validated config (logger, metrics registry, store, proxy), runs the
// public and admin servers, reloads the config in place and drains
// in-flight requests on shutdown.
//
// cmd/keygate only parses flags and signals and calls into this package.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/keygate/keygate/account"
	"github.com/keygate/keygate/api/selfservice"
	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/version"
	"github.com/keygate/keygate/proxy"
	"github.com/keygate/keygate/ratelimit"
	"github.com/keygate/keygate/store"
	redisstore "github.com/keygate/keygate/store/redis"
)

// Options are what a Gateway takes besides its config.
type Options struct {
	// Logger, if nil, is built from the config's log section.
	Logger *zap.Logger
	// Version is reported by keygate_build_info. Zero: the running
	// binary's (version.Get).
	Version version.Info
}

// Gateway is one running keygate.
type Gateway struct {
	log     *zap.Logger
	level   zap.AtomicLevel
	reg     *prometheus.Registry
	store   store.Store
	auth    *authz.Service
	proxy   *proxy.Handler
	limiter *ratelimit.Redis // nil unless the store is Redis
	quotas  *ratelimit.Quotas
	cfg     atomic.Pointer[config.Config]
	metrics *gatewayMetrics

	public, admin   *http.Server
	publicL, adminL net.Listener
	reloadMu        sync.Mutex
	shuttingDown    atomic.Bool

	// tls is the public listener's TLS (nil with tls.mode off); plain
	// and plainL serve tls.http_listen (nil without one).
	tls    *publicTLS
	plain  *http.Server
	plainL net.Listener

	// selfService is the self-service API; nil when
	// self_service.enabled is false.
	selfService *selfservice.Handler
	// account is the account pages; nil when account.enabled is false.
	account *account.Handler
}

// New builds a Gateway: logger, registry, store (opened now: a store that
// cannot be opened is an error naming its config field) and proxy.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Gateway, error) {
	g := &Gateway{reg: prometheus.NewRegistry()}
	g.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	g.metrics = newGatewayMetrics(g.reg)

	if opts.Logger != nil {
		g.log, g.level = opts.Logger, zap.NewAtomicLevelAt(opts.Logger.Level())
	} else {
		log, level, err := NewLogger(cfg.Log)
		if err != nil {
			return nil, err
		}
		g.log, g.level = log, level
	}

	st, err := OpenStore(ctx, cfg.Store, g.log, g.reg)
	if err != nil {
		return nil, err
	}
	g.store = st

	g.auth, err = authz.New(ctx, cfg.Auth, st, authz.Options{Logger: g.log, Registerer: g.reg, OAuth: cfg.OAuth, SelfService: cfg.SelfService})
	if err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("auth: %w", err)
	}
	var limiter proxy.RateLimiter // in process unless the store is shared
	if rs, ok := st.(*redisstore.Store); ok {
		if g.limiter, err = ratelimit.NewRedis(rs.Client(), cfg.Store.Redis.KeyPrefix, cfg.Store.Redis.ReadTimeout+cfg.Store.Redis.WriteTimeout, 100_000); err != nil {
			g.auth.Close()
			_ = st.Close()
			return nil, fmt.Errorf("rate limiter: %w", err)
		}
		limiter = g.limiter
	}
	g.quotas = ratelimit.NewQuotas(st, nil)
	g.proxy, err = proxy.New(cfg, proxy.Options{Logger: g.log, Registerer: g.reg, Version: opts.Version, Authenticator: g.auth, RateLimiter: limiter, Quotas: g.quotas})
	if err != nil {
		g.closeLimiter()
		g.auth.Close()
		_ = st.Close()
		return nil, fmt.Errorf("building proxy: %w", err)
	}
	// The self-service API shares the public listener: see publicHandler.
	var public http.Handler = g.proxy
	if cfg.SelfService.On() {
		if g.selfService, err = selfservice.New(g.auth, cfg, selfservice.Options{Logger: g.log, Quotas: g.quotaUsage}); err != nil {
			g.closeLimiter()
			g.proxy.Close()
			g.auth.Close()
			_ = st.Close()
			return nil, fmt.Errorf("self-service API: %w", err)
		}
		public = publicHandler{proxy: g.proxy, selfService: g.selfService}
	}
	if cfg.Account.On() {
		if g.account, err = account.New(g.auth, st, cfg, account.Options{Logger: g.log}); err != nil {
			g.closeLimiter()
			g.proxy.Close()
			g.auth.Close()
			_ = st.Close()
			return nil, fmt.Errorf("account pages: %w", err)
		}
		public = accountHandler{next: public, path: cfg.Account.Path, account: g.account}
	}
	g.cfg.Store(cfg)
	g.public = &http.Server{
		Handler:           proxy.RefuseAmbiguousFraming(public),
		ConnContext:       proxy.FramingContext,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       cfg.Server.ReadTimeout,
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    cfg.Server.MaxHeaderBytes,
		ErrorLog:          zap.NewStdLog(g.log.Named("http")),
	}
	g.admin = &http.Server{
		Handler:           g.adminHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          zap.NewStdLog(g.log.Named("admin")),
	}
	return g, nil
}

// quotaUsage is what a credential has used of the quotas of the current
// config, for the key details of the self-service and admin APIs.
func (g *Gateway) quotaUsage(ctx context.Context, c *authz.Credential) ([]ratelimit.QuotaUsage, error) {
	var own *int64
	if c.Quota != nil {
		own = &c.Quota.Requests
	}
	return g.quotas.Usage(ctx, g.cfg.Load(), c.ID, c.APISets, own)
}

func (g *Gateway) closeLimiter() {
	if g.limiter != nil {
		g.limiter.Close()
	}
}

// Logger is the gateway's logger.
func (g *Gateway) Logger() *zap.Logger { return g.log }

// Auth is the credential service, for issuing credentials in process.
func (g *Gateway) Auth() *authz.Service { return g.auth }

// Config is the config in force.
func (g *Gateway) Config() *config.Config { return g.cfg.Load() }

// Listen binds the public and admin listeners (and tls.http_listen) and
// sets up the public listener's TLS. Addr and AdminAddr tell where they
// are (useful with port 0).
func (g *Gateway) Listen() error {
	cfg := g.cfg.Load()
	var err error
	if g.publicL, err = net.Listen("tcp", cfg.Listen); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if g.adminL, err = net.Listen("tcp", cfg.AdminListen); err != nil {
		g.publicL.Close()
		return fmt.Errorf("admin_listen: %w", err)
	}
	if cfg.TLS.HTTPListen != "" {
		if g.plainL, err = net.Listen("tcp", cfg.TLS.HTTPListen); err != nil {
			g.publicL.Close()
			g.adminL.Close()
			return fmt.Errorf("tls.http_listen: %w", err)
		}
	}
	httpPort := 0
	if g.plainL != nil {
		httpPort = portOf(g.plainL.Addr())
	}
	if g.tls, err = g.buildTLS(cfg, portOf(g.publicL.Addr()), httpPort); err != nil {
		g.publicL.Close()
		g.adminL.Close()
		if g.plainL != nil {
			g.plainL.Close()
		}
		return err
	}
	if g.tls == nil {
		g.publicL = proxy.FramingListener(g.publicL) // see proxy.RefuseAmbiguousFraming
	}
	if g.tls != nil {
		g.publicL = tls.NewListener(g.publicL, g.tls.config)
		if g.plainL != nil {
			g.plain = plainServer(g.tls.plain, g.log)
		}
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

// Serve serves on the bound listeners until ctx is done, then stops
// accepting, lets in-flight requests finish within server.shutdown_timeout
// and closes the store. It returns nil after a clean drain.
func (g *Gateway) Serve(ctx context.Context) error {
	cfg := g.cfg.Load()
	errc := make(chan error, 4) // public, admin, http_listen, certificate manager
	go func() { errc <- serveOn(g.public, g.publicL) }()
	go func() { errc <- serveOn(g.admin, g.adminL) }()
	if g.plain != nil {
		go func() { errc <- serveOn(g.plain, g.plainL) }()
	}
	if g.tls != nil && g.tls.manage != nil {
		if err := g.tls.manage(ctx); err != nil {
			errc <- err
		}
	}
	g.log.Info("keygate serving",
		zap.String("listen", g.publicL.Addr().String()),
		zap.String("tls", cfg.TLS.Mode),
		zap.String("admin_listen", g.adminL.Addr().String()),
		zap.String("store", cfg.Store.Driver),
		zap.Int("routes", len(cfg.Routes)))

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	g.shuttingDown.Store(true)
	g.log.Info("keygate shutting down: draining in-flight requests", zap.Duration("timeout", cfg.Server.ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	err := g.public.Shutdown(sctx)
	_ = g.admin.Shutdown(sctx)
	if g.plain != nil {
		_ = g.plain.Shutdown(sctx)
	}
	if g.tls != nil {
		g.tls.stop()
	}
	g.closeLimiter() // gives back unspent fast-mode leases
	g.proxy.Close()
	g.auth.Close()
	if cerr := g.store.Close(); cerr != nil {
		g.log.Warn("closing store", zap.Error(cerr))
	}
	if err != nil {
		return fmt.Errorf("draining: %w", err)
	}
	g.log.Info("keygate stopped")
	return serveErr
}

func serveOn(s *http.Server, l net.Listener) error {
	if err := s.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Run is Listen then Serve.
func (g *Gateway) Run(ctx context.Context) error {
	if err := g.Listen(); err != nil {
		return err
	}
	return g.Serve(ctx)
}

// ReloadFile loads path and, if it is valid, applies it with Reload. An
// invalid file is logged with every problem and the running config stays.
func (g *Gateway) ReloadFile(path string) error {
	cfg, err := config.Load(path)
	if err != nil {
		g.metrics.reloads.WithLabelValues("error").Inc()
		g.log.Error("config reload refused; keeping the running config", zap.String("file", path), zap.Errors("problems", config.Problems(err)))
		return err
	}
	return g.Reload(cfg)
}

// Reload applies a validated config to the running gateway. Routes,
// upstream settings, trusted proxies, body limit, log level and access
// log switch over atomically; listeners, server timeouts, log format and
// the store stay as they started (changing them needs a restart, and a
// warning says so).
func (g *Gateway) Reload(cfg *config.Config) error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	old := g.cfg.Load()
	for _, f := range restartOnly(old, cfg) {
		g.log.Warn("config field changed but needs a restart to take effect", zap.String("field", f))
	}
	if err := g.proxy.Reload(cfg); err != nil {
		g.metrics.reloads.WithLabelValues("error").Inc()
		g.log.Error("config reload refused; keeping the running config", zap.Error(err))
		return err
	}
	if g.selfService != nil { // it keeps the trusted proxies
		if err := g.selfService.Reload(cfg); err != nil {
			g.metrics.reloads.WithLabelValues("error").Inc()
			g.log.Error("config reload refused; keeping the running config", zap.Error(err))
			return err
		}
	}
	if g.account != nil { // it keeps the trusted proxies too
		if err := g.account.Reload(cfg); err != nil {
			g.metrics.reloads.WithLabelValues("error").Inc()
			g.log.Error("config reload refused; keeping the running config", zap.Error(err))
			return err
		}
	}
	if lvl, err := zap.ParseAtomicLevel(cfg.Log.Level); err == nil {
		g.level.SetLevel(lvl.Level())
	}
	g.cfg.Store(cfg)
	g.metrics.reloads.WithLabelValues("ok").Inc()
	g.log.Info("config reloaded", zap.Int("routes", len(cfg.Routes)))
	return nil
}

func restartOnly(old, cfg *config.Config) []string {
	var fields []string
	if old.Listen != cfg.Listen {
		fields = append(fields, "listen")
	}
	if old.AdminListen != cfg.AdminListen {
		fields = append(fields, "admin_listen")
	}
	if old.Server != cfg.Server {
		fields = append(fields, "server")
	}
	if !reflect.DeepEqual(old.TLS, cfg.TLS) {
		fields = append(fields, "tls") // the certificate files themselves are reloaded
	}
	if old.Log.Format != cfg.Log.Format {
		fields = append(fields, "log.format")
	}
	if !reflect.DeepEqual(old.Store, cfg.Store) {
		fields = append(fields, "store")
	}
	// The credential service and the self-service handler take these
	// when they are built.
	if !reflect.DeepEqual(old.OAuth, cfg.OAuth) {
		fields = append(fields, "oauth")
	}
	if !reflect.DeepEqual(old.SelfService, cfg.SelfService) {
		fields = append(fields, "self_service")
	}
	if old.Account != cfg.Account {
		fields = append(fields, "account")
	}
	return fields
}

// publicHandler is the public server's handler while the self-service API
// is on: requests under config.SelfServicePaths go to the self-service
// handler, everything else to the proxy, whose path costs one prefix check
// more.
type publicHandler struct {
	proxy       http.Handler
	selfService http.Handler
}

func (p publicHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isSelfService(r) {
		p.selfService.ServeHTTP(w, r)
		return
	}
	p.proxy.ServeHTTP(w, r)
}

// isSelfService reports whether the request path, as sent, is one of
// config.SelfServicePaths or below it (on a segment boundary). A path
// whose canonical form is a self-service path but is spelt otherwise
// (such as /%75ser) goes to the proxy: the config refuses routes that
// overlap the self-service paths, so the proxy answers it 404 and never
// forwards it. The self-service handler itself refuses any path that is
// not plain.
func isSelfService(r *http.Request) bool {
	p := r.RequestURI
	if p == "" || p[0] != '/' {
		p = r.URL.EscapedPath() // absolute-form request target
	}
	for _, prefix := range config.SelfServicePaths {
		if len(p) >= len(prefix) && p[:len(prefix)] == prefix &&
			(len(p) == len(prefix) || p[len(prefix)] == '/' || p[len(prefix)] == '?') {
			return true
		}
	}
	return false
}
