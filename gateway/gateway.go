// Package gateway is the keygate process: it builds the pieces from a
// validated config (logger, metrics registry, store, credential service,
// proxy, self-service API and account pages), serves the public, admin,
// health and tls.http_listen listeners (TLS from files or ACME), reloads the
// config in place (file changes, SIGHUP, Reload) and drains in-flight
// requests on shutdown.
//
// Its lifecycle has two halves. New and Listen push whatever holds a
// resource onto a stack of closers as they build it; Close unwinds it
// once, last built first (New does on its own errors). Serve runs every
// goroutine in one run group (errgroup): the servers, the certificate
// manager, the config watcher, the reload signal and the shutdown that
// drains the servers; the closers run only after the group has returned.
//
// cmd/keygate only parses flags, reads the environment and signals, and
// calls into this package.
package gateway

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/keygate/keygate/account"
	"github.com/keygate/keygate/api/selfservice"
	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/forwardauth"
	"github.com/keygate/keygate/internal/audit"
	"github.com/keygate/keygate/internal/tracing"
	"github.com/keygate/keygate/internal/version"
	"github.com/keygate/keygate/proxy"
	"github.com/keygate/keygate/ratelimit"
	"github.com/keygate/keygate/store"
	redisstore "github.com/keygate/keygate/store/redis"
	"github.com/keygate/keygate/store/storemetrics"
)

// Options are what a Gateway takes besides its config.
type Options struct {
	// Logger, if nil, is built from the config's log section.
	Logger *zap.Logger
	// Version is reported by keygate_build_info. Zero: the running
	// binary's (version.Get).
	Version version.Info
	// AdminToken is the admin API's bootstrap token (cmd/keygate reads it
	// from $KEYGATE_ADMIN_TOKEN). Empty: only users with the ADMIN
	// authority reach the admin API.
	AdminToken string
	// ConfigFile is the file the config came from. When set, Serve
	// reloads it whenever its content changes (see watchConfig) and on
	// every value received from Reload.
	ConfigFile string
	// Reload asks for a reload of ConfigFile (cmd/keygate sends SIGHUP
	// here). Nil: only file changes and the Reload method reload.
	Reload <-chan os.Signal
	// Listeners, if set, are the config's listeners bound by Bind
	// beforehand (cmd/keygate binds them before the store is opened).
	// New takes them: Close closes them, also after New's own error.
	// Nil: Listen binds them.
	Listeners *Listeners
}

// Gateway is one running keygate.
type Gateway struct {
	opts    Options
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
	// tracing exports the spans of requests; nil with tracing off.
	tracing *tracing.Tracing

	public, admin, health    *http.Server
	publicL, adminL, healthL net.Listener
	shuttingDown             atomic.Bool

	// tls is the public listener's TLS (nil with tls.mode off); plain
	// and plainL serve tls.http_listen (nil without one).
	tls    *publicTLS
	plain  *http.Server
	plainL net.Listener

	// grpc serves forward_auth.grpc_listen (nil without one).
	grpc  *grpc.Server
	grpcL net.Listener

	// selfService is the self-service API; nil when
	// self_service.enabled is false.
	selfService *selfservice.Handler
	// account is the account pages; nil when account.enabled is false.
	account *account.Handler

	// parts are what takes a new config in place, in the order Reload
	// applies it (see Reload).
	parts []reloader
	// watch reloads ConfigFile when it changes; nil without one.
	watch *configWatch

	// reloadMu serialises Reload and Close: a reload never runs while
	// the closers do, nor after them (closed).
	reloadMu sync.Mutex
	closed   bool
	// closers release what New and Listen built, last built first
	// (see Close).
	closers []func()
}

// New builds a Gateway: logger, registry, store (opened now: a store that
// cannot be opened is an error naming its config field), credential
// service, proxy and the front ends. Whatever holds a resource is pushed
// onto the gateway's closers as it is built; on an error they are
// unwound at once.
func New(ctx context.Context, cfg *config.Config, opts Options) (_ *Gateway, err error) {
	g := &Gateway{opts: opts, reg: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			g.Close()
		}
	}()
	if ls := opts.Listeners; ls != nil {
		g.onClose(func() { _ = ls.Close() }) // a no-op for those whose server has shut down
	}
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
	log, closeAudit, err := audit.Tee(g.log, cfg.Audit)
	if err != nil {
		return nil, err
	}
	g.log = log
	g.onClose(func() { _ = closeAudit() }) // closed last: everything else may still log
	if cfg.Tracing.On() {
		v := opts.Version
		if v == (version.Info{}) {
			v = version.Get()
		}
		if g.tracing, err = tracing.New(cfg.Tracing, v, g.log); err != nil {
			return nil, err
		}
		// Flushed after the servers have drained and the proxy has
		// closed: every request's spans have ended by then.
		g.onClose(func() {
			if err := g.tracing.Shutdown(); err != nil {
				g.log.Warn("tracing: spans still queued at shutdown were not all exported", zap.Error(err))
			}
		})
		g.log.Info("tracing on", zap.String("endpoint", cfg.Tracing.TracesURL()), zap.Float64("sample_ratio", cfg.Tracing.Ratio()))
	}

	raw, err := OpenStore(ctx, cfg.Store, g.log, g.reg)
	if err != nil {
		return nil, err
	}
	if g.store, err = storemetrics.Wrap(raw, g.reg); err != nil {
		raw.Close()
		return nil, err
	}
	g.onClose(func() {
		if err := g.store.Close(); err != nil {
			g.log.Warn("closing store", zap.Error(err))
		}
	})
	if g.auth, err = authz.New(ctx, cfg.Auth, g.store, authz.Options{Logger: g.log, Registerer: g.reg, OAuth: cfg.OAuth, SelfService: cfg.SelfService, Traced: g.tracing != nil}); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	g.onClose(g.auth.Close)
	var limiter proxy.RateLimiter // in process unless the store is shared
	if rs, ok := raw.(*redisstore.Store); ok {
		if g.limiter, err = ratelimit.NewRedis(rs.Client(), cfg.Store.Redis.KeyPrefix, cfg.Store.Redis.ReadTimeout+cfg.Store.Redis.WriteTimeout, proxy.MaxLimitKeys); err != nil {
			return nil, fmt.Errorf("rate limiter: %w", err)
		}
		g.onClose(g.limiter.Close) // gives back unspent fast-mode leases
		limiter = g.limiter
	}
	g.quotas = ratelimit.NewQuotas(g.store, nil)
	popts := proxy.Options{Logger: g.log, Registerer: g.reg, Version: opts.Version, Authenticator: g.auth.Verifier, RateLimiter: limiter, Quotas: g.quotas}
	if g.tracing != nil {
		popts.Tracer = g.tracing.Tracer
	}
	if g.proxy, err = proxy.New(cfg, popts); err != nil {
		return nil, fmt.Errorf("building proxy: %w", err)
	}
	g.onClose(g.proxy.Close)
	g.parts = append(g.parts, g.proxy, levelPart{g.level})
	// The self-service API shares the public listener: see publicHandler.
	var public http.Handler = g.proxy
	if cfg.SelfService.On() {
		if g.selfService, err = selfservice.New(g.auth, cfg, selfservice.Options{Logger: g.log, Quotas: g.quotaUsage}); err != nil {
			return nil, fmt.Errorf("self-service API: %w", err)
		}
		g.parts = append(g.parts, g.selfService) // it keeps the trusted proxies
		public = publicHandler{proxy: g.proxy, selfService: g.selfService}
	}
	if cfg.Account.On() {
		if g.account, err = account.New(g.auth, g.store, cfg, account.Options{Logger: g.log}); err != nil {
			return nil, fmt.Errorf("account pages: %w", err)
		}
		g.parts = append(g.parts, g.account) // it keeps the trusted proxies too
		public = accountHandler{next: public, path: cfg.Account.Path, account: g.account}
	}
	if cfg.ForwardAuth.On() {
		public = forwardAuthHandler{next: public, check: forwardauth.New(g.proxy, cfg.ForwardAuth)}
	}
	if opts.ConfigFile != "" {
		// Watched from now, so that a change made while the gateway
		// starts is not missed; the events wait for Serve.
		if w, err := watchConfigFile(opts.ConfigFile); err != nil {
			g.log.Warn("config file is not watched; reload with SIGHUP", zap.Error(err))
		} else {
			g.watch = w
			g.onClose(func() { _ = w.Close() })
		}
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
	g.admin = adminLimits.server(g.adminHandler(), g.log, "admin")
	g.health = adminLimits.server(g.healthHandler(), g.log, "health")
	return g, nil
}

// onClose pushes f onto the closers.
func (g *Gateway) onClose(f func()) { g.closers = append(g.closers, f) }

// Close releases everything New and Listen built, last built first: once,
// after any reload in progress has finished; a later Reload returns
// ErrClosed. Serve calls it when every goroutine it started has ended;
// call it yourself only for a Gateway that is not served (New or Listen
// failed, or Serve was never called).
func (g *Gateway) Close() {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	if g.closed {
		return
	}
	g.closed = true
	for i := len(g.closers) - 1; i >= 0; i-- {
		g.closers[i]()
	}
	g.closers = nil
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

// Logger is the gateway's logger.
func (g *Gateway) Logger() *zap.Logger { return g.log }

// Auth is the credential service, for issuing credentials in process.
func (g *Gateway) Auth() *authz.Service { return g.auth }

// Config is the config in force.
func (g *Gateway) Config() *config.Config { return g.cfg.Load() }

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
	for _, prefix := range config.SelfServicePaths {
		if under(r, prefix) {
			return true
		}
	}
	return false
}
