package selfservice

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"

	"go.uber.org/zap"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/httpkit"
	"github.com/keygate/keygate/ratelimit"
)

// Options are what a Handler takes besides the credential service and
// the config.
type Options struct {
	// Logger receives one access-log line per request ("self-service
	// request") and the causes of 5xx answers; nil discards.
	Logger *zap.Logger
	// Quotas returns what a credential has used of its quotas, for the
	// key details. Nil: none shown.
	Quotas func(ctx context.Context, c *authz.Credential) ([]ratelimit.QuotaUsage, error)
}

// Handler serves the self-service API. Build it with New.
type Handler struct {
	*httpkit.API[*caller]
	svc *authz.Service
	log *zap.Logger
	// oauth is the OAuth config the service was built with (its defaults
	// and maxima bound what a client may ask for).
	oauth config.OAuth
	// selfSvc says which credentials need the MANAGE_USER_API_KEY
	// authority (self_service.manage_key_authority_for).
	selfSvc config.SelfService
	// retryAfter is sent with a 429 for too many wrong passwords: the
	// failure window, the longest a client may have to wait.
	retryAfter int
	trusted    httpkit.Trusted
	// clientFailures limits failed client authentications per address
	// (auth.failure_limit); nil: off.
	clientFailures *ratelimit.FailureGuard[netip.Addr]
	quotas         func(ctx context.Context, c *authz.Credential) ([]ratelimit.QuotaUsage, error)
}

var _ http.Handler = (*Handler)(nil)

// New builds the self-service handler on the credential service. cfg is
// the validated config the service was built from, defaults applied (as
// config's Load and Parse return it).
func New(svc *authz.Service, cfg *config.Config, opts Options) (*Handler, error) {
	if svc == nil {
		return nil, fmt.Errorf("self-service: no credential service")
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	h := &Handler{
		svc:        svc,
		log:        log.Named("selfservice"),
		oauth:      cfg.OAuth, // defaults applied by config's Load and Parse
		selfSvc:    cfg.SelfService,
		retryAfter: httpkit.PasswordRetryAfter(cfg),
		quotas:     opts.Quotas,
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
	const user, client = httpkit.Signed, httpkit.Self
	ep := httpkit.Endpoint[*caller]
	h.API = httpkit.NewAPI(httpkit.Spec[*caller]{
		Name: "self-service", Via: "self_service", CallerKey: "user", Log: h.log,
		ClientAddr: h.trusted.ClientAddr, Authenticate: h.authenticate,
	}, []httpkit.Route[*caller]{
		ep("POST", "/connect/register/createClientId", user, h.createClient),
		ep("GET", "/connect/register/clients", user, h.listClients),
		ep("GET", "/connect/register/clients/{clientId}", user, h.getClient),
		ep("POST", "/connect/register/clients/{clientId}/secret", user, h.newClientSecret),
		ep("DELETE", "/connect/register/clients/{clientId}", user, h.deleteClient),
		ep("POST", "/oauth/token", client, h.token),
		ep("POST", "/oauth/revoke", client, h.revoke),
		ep("POST", "/oauth/introspect", client, h.introspect),
		ep("GET", "/user", user, h.getUser),
		ep("GET", "/user/keys", user, h.listKeys),
		ep("POST", "/user/keys", user, h.createKey),
		ep("GET", "/user/keys/{handle}", user, h.getKey),
		ep("DELETE", "/user/keys/{handle}", user, h.deleteKey),
		ep("GET", "/user/apikey", user, h.getAPIKey),
		ep("POST", "/user/apikey/token", user, h.newAPIKeyToken),
		ep("POST", "/user/apikey/rotate", user, h.rotateAPIKey),
		ep("GET", MetadataPath, httpkit.Public, h.metadata),
		httpkit.Document[*caller]("/openapi.json", openAPIDoc),
	})
	return h, nil
}

// Reload takes the parts of a new config the handler uses while running:
// the trusted proxies whose X-Forwarded-For names the client address
// (which password failures are counted against). The OAuth settings are
// the credential service's and need a restart, like the service.
func (h *Handler) Reload(cfg *config.Config) error { return h.trusted.Reload(cfg) }
