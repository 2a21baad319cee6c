package gateway

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"go.uber.org/zap"

	"github.com/keygate/keygate/config"
)

// ErrClosed is Reload's error once the Gateway is closed.
var ErrClosed = errors.New("gateway closed")

// reloader is a part of the gateway that takes a new config in place:
// the proxy (routes, upstream settings, trusted proxies, body limit,
// access log), the log level, and the self-service API and account pages
// (trusted proxies).
type reloader interface {
	Reload(cfg *config.Config) error
}

// levelPart is the log level as a part that reloads.
type levelPart struct{ level zap.AtomicLevel }

func (l levelPart) Reload(cfg *config.Config) error {
	lvl, err := zap.ParseAtomicLevel(cfg.Log.Level)
	if err != nil {
		return fmt.Errorf("log.level: %w", err)
	}
	l.level.SetLevel(lvl.Level())
	return nil
}

// ReloadFile loads path and, if it is valid, applies it as Reload does.
// An invalid file is logged with every problem and the running config
// stays. Once the Gateway is closed it returns ErrClosed.
func (g *Gateway) ReloadFile(path string) error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	if g.closed {
		return ErrClosed
	}
	cfg, err := config.Load(path)
	if err != nil {
		return g.refused(err, zap.String("file", path), zap.Errors("problems", config.Problems(err)))
	}
	return g.reload(cfg)
}

// Reload applies a validated config to the running gateway. Routes,
// upstream settings, trusted proxies, body limit, log level and access
// log switch over atomically; listeners, server timeouts, log format,
// tracing and the store stay as they started (changing them needs a restart, and a
// warning says so). Once the Gateway is closed it returns ErrClosed.
func (g *Gateway) Reload(cfg *config.Config) error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	if g.closed {
		return ErrClosed
	}
	return g.reload(cfg)
}

// reload gives cfg to every part, in the order of g.parts: the proxy,
// the one part that can refuse a valid config (an upstream.tls file that
// does not load), comes first, so that a refused config changes nothing.
// The caller holds reloadMu.
func (g *Gateway) reload(cfg *config.Config) error {
	for _, f := range restartOnly(g.cfg.Load(), cfg) {
		g.log.Warn("config field changed but needs a restart to take effect", zap.String("field", f))
	}
	for _, p := range g.parts {
		if err := p.Reload(cfg); err != nil {
			return g.refused(err, zap.Error(err))
		}
	}
	g.cfg.Store(cfg)
	g.metrics.reloads.WithLabelValues("ok").Inc()
	g.metrics.lastReload.SetToCurrentTime()
	g.log.Info("config reloaded", zap.Int("routes", len(cfg.Routes)))
	return nil
}

// refused is the one error path of a reload: counted, logged, returned;
// the running config stays.
func (g *Gateway) refused(err error, fields ...zap.Field) error {
	g.metrics.reloads.WithLabelValues("error").Inc()
	g.log.Error("config reload refused; keeping the running config", fields...)
	return err
}

// reloadOnSignal reloads Options.ConfigFile on every value of
// Options.Reload until ctx is done.
func (g *Gateway) reloadOnSignal(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.opts.Reload:
			if ctx.Err() != nil {
				return // shutting down: a select picks at random among ready cases
			}
			g.log.Info("SIGHUP: reloading config", zap.String("file", g.opts.ConfigFile))
			_ = g.ReloadFile(g.opts.ConfigFile) // an invalid file is logged; the running config stays
		}
	}
}

func restartOnly(old, cfg *config.Config) []string {
	var fields []string
	if old.Listen != cfg.Listen {
		fields = append(fields, "listen")
	}
	if old.AdminListen != cfg.AdminListen {
		fields = append(fields, "admin_listen")
	}
	if old.HealthListen != cfg.HealthListen {
		fields = append(fields, "health_listen")
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
	if old.Audit != cfg.Audit {
		fields = append(fields, "audit")
	}
	if !reflect.DeepEqual(old.Account, cfg.Account) { // account.oidc is a pointer
		fields = append(fields, "account")
	}
	if old.ForwardAuth != cfg.ForwardAuth {
		fields = append(fields, "forward_auth")
	}
	if !reflect.DeepEqual(old.Auth.JWT, cfg.Auth.JWT) {
		fields = append(fields, "auth.jwt")
	}
	// The tracer is built at start; its spans' exporter flushes at exit.
	if !reflect.DeepEqual(old.Tracing, cfg.Tracing) {
		fields = append(fields, "tracing")
	}
	return fields
}
