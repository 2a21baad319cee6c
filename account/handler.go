package account

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/clientaddr"
	"github.com/keygate/keygate/internal/httpkit"
	"github.com/keygate/keygate/store"
)

// Options are what a Handler takes besides the service, store and config.
type Options struct {
	// Logger, if nil, logs nothing.
	Logger *zap.Logger
	// Now, if nil, is time.Now: the clock of session deadlines.
	Now func() time.Time
}

// Handler serves the account pages. Build it with New.
type Handler struct {
	svc      *authz.Service
	sessions sessionStore
	log      *zap.Logger
	now      func() time.Time
	mux      *http.ServeMux
	pages    *pages
	// base is account.path ("/account"), the prefix of every page.
	base           string
	idle, absolute time.Duration
	alwaysSecure   bool
	retryAfter     int // seconds, for a 429 sign-in
	// selfSvc says which credentials need the MANAGE_USER_API_KEY
	// authority (self_service.manage_key_authority_for).
	selfSvc config.SelfService
	trusted httpkit.Trusted
	// oidc is account.oidc (nil: no sign-in with a provider).
	oidc *provider
}

var _ http.Handler = (*Handler)(nil)

// New builds the account pages on the credential service and the store
// it uses (sessions are records of their own there). cfg is the validated
// config.
func New(svc *authz.Service, st store.Store, cfg *config.Config, opts Options) (*Handler, error) {
	if svc == nil || st == nil {
		return nil, errors.New("account: no credential service or store")
	}
	a := cfg.Account
	if a.Path == "" || a.SessionIdleTimeout <= 0 || a.SessionAbsoluteTimeout <= 0 {
		return nil, errors.New("account: the config has no defaults applied")
	}
	h := &Handler{
		svc: svc, sessions: st, log: opts.Logger, now: opts.Now, mux: http.NewServeMux(),
		base: a.Path, idle: a.SessionIdleTimeout, absolute: a.SessionAbsoluteTimeout, alwaysSecure: a.SecureCookie,
		selfSvc: cfg.SelfService,
	}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	h.log = h.log.Named("account")
	if h.now == nil {
		h.now = time.Now
	}
	h.retryAfter = httpkit.PasswordRetryAfter(cfg)
	if a.OIDC != nil {
		h.oidc = newProvider(a.OIDC)
	}
	var err error
	if h.pages, err = parsePages(); err != nil {
		return nil, err
	}
	if err := h.Reload(cfg); err != nil {
		return nil, err
	}
	h.routes()
	return h, nil
}

// Reload takes the trusted proxies of a new config (whose X-Forwarded-For
// names the address sign-in failures are counted against, and whose
// X-Forwarded-Proto tells whether the browser used TLS). Path and session
// settings need a restart.
func (h *Handler) Reload(cfg *config.Config) error { return h.trusted.Reload(cfg) }

// securityHeaders are on every answer of the pages. Every page is about
// one person's credentials, so none is ever cached (the Save generated key
// window and the ApiKey token hold secrets; the others are not worth the
// risk of telling apart).
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	"X-Content-Type-Options":     "nosniff",
	"Referrer-Policy":            "no-referrer",
	"X-Frame-Options":            "DENY",
	"Cache-Control":              "no-store",
	"Pragma":                     "no-cache",
	"Cross-Origin-Opener-Policy": "same-origin",
}

// ServeHTTP answers one request for the pages: the security headers, then
// the page, then one log line (never the query string, a cookie or a form
// value).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.now()
	hd := w.Header()
	for k, v := range securityHeaders {
		hd.Set(k, v)
	}
	rec := &httpkit.Recorder{ResponseWriter: w, Status: http.StatusOK}
	h.mux.ServeHTTP(rec, r)
	if ce := h.log.Check(zapcore.InfoLevel, "account request"); ce != nil {
		ce.Write(zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Int("status", rec.Status),
			zap.Duration("duration", h.now().Sub(start)), zap.String("client", h.trusted.ClientAddr(r).String()))
	}
}

// secure tells whether cookies get the Secure attribute: always with
// account.secure_cookie, else when the browser reached keygate over TLS —
// directly, or through a trusted proxy that says so in X-Forwarded-Proto.
func (h *Handler) secure(r *http.Request) bool {
	if h.alwaysSecure || r.TLS != nil {
		return true
	}
	if !clientaddr.FromTrustedProxy(r, h.trusted.Prefixes()) {
		return false
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

// path is a page's path under account.path.
func (h *Handler) path(p string) string { return h.base + p }
