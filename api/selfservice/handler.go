package selfservice

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/httpkit"
	"github.com/keygate/keygate/ratelimit"
)

// Handler serves the self-service API. Build it with New.
type Handler struct {
	svc    *authz.Service
	log    *zap.Logger
	mux    *http.ServeMux
	routes []route
	// oauth is the OAuth config the service was built with (its defaults
	// and maxima bound what a client may ask for).
	oauth config.OAuth
	// selfSvc says which credentials need the MANAGE_USER_API_KEY
	// authority (self_service.manage_key_authority_for).
	selfSvc config.SelfService
	// retryAfter is sent with a 429 for too many wrong passwords: the
	// failure window, the longest a client may have to wait.
	retryAfter int
	trusted    atomic.Pointer[[]netip.Prefix]
	// clientFailures limits failed client authentications per address
	// (auth.failure_limit); nil: off.
	clientFailures *ratelimit.FailureGuard[netip.Addr]
	// Quotas returns what a credential has used of its quotas, for the
	// key details. Nil: none shown. Set before serving.
	Quotas func(ctx context.Context, c *authz.Credential) ([]ratelimit.QuotaUsage, error)
}

var _ http.Handler = (*Handler)(nil)

// access is who may call a route.
type access uint8

const (
	// public: anyone (the OpenAPI document).
	public access = iota
	// user: a signed-in user (password or a credential of their own); the
	// handler gets the caller.
	user
	// client: the handler authenticates an OAuth client itself (RFC 6749
	// §2.3), or, for introspection, a client or a user.
	client
)

// route is one endpoint: the method and ServeMux pattern, who may call it
// and what serves it.
type route struct {
	method, pattern string
	access          access
	serve           func(w http.ResponseWriter, r *http.Request, c *caller) error
}

// New builds the self-service handler on the credential service. cfg is
// the validated config the service was built from.
func New(svc *authz.Service, cfg *config.Config, log *zap.Logger) (*Handler, error) {
	if svc == nil {
		return nil, fmt.Errorf("self-service: no credential service")
	}
	if log == nil {
		log = zap.NewNop()
	}
	// The service fills zero OAuth and self-service settings with the
	// defaults; so does the handler (a loaded config already has them).
	d := config.Config{OAuth: cfg.OAuth, SelfService: cfg.SelfService}
	d.ApplyDefaults()
	h := &Handler{
		svc:        svc,
		log:        log.Named("selfservice"),
		mux:        http.NewServeMux(),
		oauth:      d.OAuth,
		selfSvc:    d.SelfService,
		retryAfter: int((d.SelfService.PasswordFailureWindow + time.Second - 1) / time.Second),
	}
	if err := h.Reload(cfg); err != nil {
		return nil, err
	}
	if fl := cfg.Auth.FailureLimit; fl.On() {
		g, err := ratelimit.NewFailureGuard(ratelimit.Limit{Rate: fl.Rate, Per: fl.Per, Burst: fl.Burst})
		if err != nil {
			return nil, err
		}
		h.clientFailures = g
	}
	h.routes = []route{
		{"POST", "/connect/register/createClientId", user, h.createClient},
		{"GET", "/connect/register/clients", user, h.listClients},
		{"GET", "/connect/register/clients/{clientId}", user, h.getClient},
		{"POST", "/connect/register/clients/{clientId}/secret", user, h.newClientSecret},
		{"DELETE", "/connect/register/clients/{clientId}", user, h.deleteClient},
		{"POST", "/oauth/token", client, h.token},
		{"POST", "/oauth/revoke", client, h.revoke},
		{"POST", "/oauth/introspect", client, h.introspect},
		{"GET", "/user", user, h.getUser},
		{"GET", "/user/keys", user, h.listKeys},
		{"POST", "/user/keys", user, h.createKey},
		{"GET", "/user/keys/{handle}", user, h.getKey},
		{"DELETE", "/user/keys/{handle}", user, h.deleteKey},
		{"GET", "/user/apikey", user, h.getAPIKey},
		{"POST", "/user/apikey/token", user, h.newAPIKeyToken},
		{"POST", "/user/apikey/rotate", user, h.rotateAPIKey},
		{"GET", "/openapi.json", public, h.openAPI},
	}
	for _, rt := range h.routes {
		h.mux.Handle(rt.method+" "+rt.pattern, h.endpoint(rt))
	}
	h.mux.HandleFunc("/", httpkit.NotServed(h.mux, http.MethodGet, http.MethodPost, http.MethodDelete))
	return h, nil
}

// Reload takes the parts of a new config the handler uses while running:
// the trusted proxies whose X-Forwarded-For names the client address
// (which password failures are counted against). The OAuth settings are
// the credential service's and need a restart, like the service.
func (h *Handler) Reload(cfg *config.Config) error {
	trusted, err := cfg.TrustedPrefixes()
	if err != nil {
		return err
	}
	h.trusted.Store(&trusted)
	return nil
}

// ServeHTTP answers one self-service request: a request id, a strict check
// of the path (the API's paths and identifiers are plain ASCII: anything
// percent-encoded, empty or dot segments are refused, so there is one
// spelling of every resource), the route, the caller, the endpoint, and an
// access log line.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	st := &reqState{}
	r = r.WithContext(withState(r.Context(), st))
	id, status := httpkit.Serve(w, r, "", h.mux)
	if ce := h.log.Check(zapcore.InfoLevel, "self-service request"); ce != nil {
		ce.Write(
			zap.String("request_id", id),
			zap.String("method", r.Method),
			zap.String("route", st.pattern),
			zap.Int("status", status),
			zap.Duration("duration", time.Since(start)),
			zap.String("user", st.user),
			zap.String("client", h.clientAddr(r).String()),
		)
	}
}

// endpoint wraps a route: it authenticates the caller where the route
// needs one, runs the route and writes its error, if any.
func (h *Handler) endpoint(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := stateOf(r.Context())
		st.pattern = rt.method + " " + rt.pattern
		var c *caller
		if rt.access == user {
			var err error
			if c, err = h.authenticate(r); err != nil {
				h.fail(w, r, err)
				return
			}
			st.user = c.user.Name
			if rt.method != http.MethodGet && c.identity != nil && !slices.Contains(c.identity.Scopes, httpkit.ScopeWrite) {
				h.fail(w, r, httpkit.Insufficient(httpkit.ScopeWrite))
				return
			}
		}
		if err := rt.serve(w, r, c); err != nil {
			h.fail(w, r, err)
		}
	})
}

// fail writes an endpoint's error; internal causes are logged.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	httpkit.Fail(h.log, "self-service request failed", stateOf(r.Context()).pattern, w, r, err)
}

// clientAddr is the address a request is attributed to: the peer, or,
// behind trusted proxies, the client they name (see httpkit.ClientAddr).
func (h *Handler) clientAddr(r *http.Request) netip.Addr {
	return httpkit.ClientAddr(r, *h.trusted.Load())
}
