package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"

	"go.uber.org/zap"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/audit"
	"github.com/keygate/keygate/internal/httpkit"
	"github.com/keygate/keygate/ratelimit"
)

// EnvToken names the environment variable that holds the bootstrap admin
// token; keygate serve reads it when it starts.
const EnvToken = "KEYGATE_ADMIN_TOKEN"

// MinTokenLen is the shortest bootstrap admin token accepted, in bytes
// (32 bytes of base64 from `openssl rand -base64 32` carry 192 bits).
const MinTokenLen = 32

// Options are what a Handler takes besides the credential service.
type Options struct {
	// Logger receives one access-log line per request ("admin request")
	// and the audit lines; nil discards.
	Logger *zap.Logger
	// Token is the bootstrap admin token; empty means none. A token
	// shorter than MinTokenLen bytes, or one that cannot be sent as a
	// Bearer token (RFC 6750 b64token), is not used, and New logs a
	// warning saying so.
	Token string
	// Quotas returns what a credential has used of its quotas, for the
	// credentials list. Nil: none shown.
	Quotas func(ctx context.Context, c *authz.Credential) ([]ratelimit.QuotaUsage, error)
}

// Handler serves the admin API. Build it with New.
type Handler struct {
	*httpkit.API[*actor]
	svc *authz.Service
	log *zap.Logger
	// token is the SHA-256 of the bootstrap admin token; nil: none. The
	// digest, not the token, is compared, so the comparison takes the same
	// time whatever the length of what is presented.
	token *[sha256.Size]byte
	// retryAfter is sent with a 429 for too many wrong passwords: the
	// failure window, the longest a client may have to wait.
	retryAfter int
	quotas     func(ctx context.Context, c *authz.Credential) ([]ratelimit.QuotaUsage, error)
}

var _ http.Handler = (*Handler)(nil)

// New builds the admin API on the credential service svc (required). cfg
// is the validated config svc was built from: its self_service section
// bounds password sign-in, as on the self-service API; nil means the
// defaults.
func New(svc *authz.Service, cfg *config.Config, opts Options) (*Handler, error) {
	if svc == nil {
		return nil, errors.New("admin API: no credential service")
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	h := &Handler{
		svc:        svc,
		log:        log.Named("adminapi"),
		retryAfter: httpkit.PasswordRetryAfter(cfg),
		quotas:     opts.Quotas,
	}
	switch {
	case opts.Token == "":
		h.log.Info("no bootstrap admin token (" + EnvToken + " is not set): only users with the ADMIN authority can use the admin API")
	case len(opts.Token) < MinTokenLen:
		h.log.Warn(EnvToken+" is shorter than 32 bytes and is NOT used: only users with the ADMIN authority can use the admin API; make one with `openssl rand -base64 32`",
			zap.Int("length", len(opts.Token)))
	case !bearerToken(opts.Token):
		h.log.Warn(EnvToken + " holds characters a Bearer token cannot carry (RFC 6750: letters, digits, - . _ ~ + / and trailing =) and is NOT used; make one with `openssl rand -base64 32`")
	default:
		sum := sha256.Sum256([]byte(opts.Token))
		h.token = &sum
		h.log.Info("bootstrap admin token set (" + EnvToken + "): unset it once a user with the ADMIN authority exists")
	}
	const admin = httpkit.Signed
	ep := httpkit.Endpoint[*actor]
	h.API = httpkit.NewAPI(httpkit.Spec[*actor]{
		Name: "admin", Via: "admin_api", CallerKey: "actor", PathChars: pathChars, Log: h.log,
		ClientAddr: peerAddr, Authenticate: h.authenticate,
	}, []httpkit.Route[*actor]{
		ep("GET", "/admin/users", admin, h.listUsers),
		ep("POST", "/admin/users", admin, h.createUser),
		ep("GET", "/admin/users/{name}", admin, h.getUser),
		ep("PATCH", "/admin/users/{name}", admin, h.updateUser),
		ep("PUT", "/admin/users/{name}/password", admin, h.setPassword),
		ep("GET", "/admin/users/{name}/credentials", admin, h.credentials),
		ep("POST", "/admin/users/{name}/apikey/unvoid", admin, h.unvoid),
		ep("DELETE", "/admin/credentials/{id}", admin, h.revoke),
		ep("PATCH", "/admin/credentials/{id}", admin, h.updateCredential),
		ep("DELETE", "/admin/clients/{clientId}", admin, h.deleteClient),
		httpkit.Document[*actor]("/admin/openapi.json", openAPIDoc),
	})
	return h, nil
}

// peerAddr is the address an admin request is attributed to: the peer
// (the admin listener is not behind trusted proxies).
func peerAddr(r *http.Request) netip.Addr { return httpkit.PeerAddr(r.RemoteAddr) }

// bearerToken reports whether s can be sent as "Authorization: Bearer s".
func bearerToken(s string) bool {
	p, err := authz.ParseAuthorization([]string{"Bearer " + s})
	return err == nil && p.Scheme == authz.SchemeBearer && p.Token == s
}

// pathChars are the characters the API's paths may hold besides letters,
// digits and - . _ ~: user names may hold "@".
const pathChars = "@"

// actor is an authenticated administrator.
type actor struct {
	// name is the user's name, or tokenActor.
	name string
	// auth is how they authenticated: "admin_token", "password", or the
	// kind of the credential.
	auth string
	// identity is the credential presented; nil for the token or a
	// password.
	identity *authz.Identity
	// root: the bootstrap admin token, which holds everything. Otherwise
	// the actor holds apiSets, scopes and authorities (what they
	// authenticated with carries) and can grant no more (see grantable).
	root                         bool
	apiSets, scopes, authorities []string
}

// tokenActor names the bootstrap admin token in audit lines: not a
// possible user name, so the two are never confused.
const tokenActor = audit.AdminToken

func (a *actor) Who() string                 { return a.name }
func (a *actor) Credential() *authz.Identity { return a.identity }
func (a *actor) AuthMethod() string          { return a.auth }

var (
	// errNoAdmin: nothing that could authenticate an administrator.
	errNoAdmin = &httpkit.Error{Status: http.StatusUnauthorized, Code: "unauthorized",
		Description: "Authenticate with the bootstrap admin token (Authorization: Bearer $" + EnvToken + "), or as a user with the ADMIN authority: HTTP Basic with their password, or a credential of theirs (Bearer or ApiKey).",
		Challenge:   httpkit.ChallengeUser}
	// errNotAdmin: a valid user without the ADMIN authority.
	errNotAdmin = &httpkit.Error{Status: http.StatusForbidden, Code: "forbidden",
		Description: "The admin API needs the ADMIN authority."}
	// errNotAdminCredential: an administrator's credential that was not
	// made for administration.
	errNotAdminCredential = &httpkit.Error{Status: http.StatusForbidden, Code: "forbidden",
		Description: "The admin API accepts only credentials made for administration (a named key created with admin: true after a password sign-in, or by `keygate keys create --admin`); sign in with your password."}
)

// authenticate finds the administrator of a request: the bootstrap admin
// token, or a user with the ADMIN authority signed in with a password or
// a credential of theirs (password failures are counted against the
// peer's address: the admin listener is not behind trusted proxies).
func (h *Handler) authenticate(r *http.Request) (*actor, error) {
	values := r.Header["Authorization"]
	if h.token != nil {
		if p, err := authz.ParseAuthorization(values); err == nil && p.Scheme == authz.SchemeBearer {
			sum := sha256.Sum256([]byte(p.Token))
			if subtle.ConstantTimeCompare(sum[:], h.token[:]) == 1 {
				return &actor{name: tokenActor, auth: "admin_token", root: true}, nil
			}
		}
	}
	c, err := httpkit.Authenticate(r, h.svc.Passwords, h.svc.Accounts, h.svc.Verifier, httpkit.PeerAddr(r.RemoteAddr), h.retryAfter)
	switch {
	case errors.Is(err, httpkit.ErrNoCaller):
		return nil, errNoAdmin
	case err != nil:
		return nil, err
	case !slices.Contains(c.User.Authorities, authz.AuthorityAdmin):
		httpkit.SetCaller(r, c.User.Name)
		return nil, errNotAdmin
	}
	a := &actor{name: c.User.Name, auth: "password", identity: c.Identity,
		apiSets: c.User.APISets, scopes: c.User.Scopes, authorities: c.User.Authorities}
	if c.Identity != nil {
		// A credential narrowed for something else is not root: only one
		// made for administration is accepted, and it grants no more
		// than it carries.
		cred, err := h.svc.Accounts.Credential(r.Context(), c.Identity.CredentialID)
		if err != nil && !errors.Is(err, authz.ErrNotFound) {
			return nil, err
		}
		if err != nil || !cred.Admin {
			httpkit.SetCaller(r, c.User.Name)
			return nil, errNotAdminCredential
		}
		a.auth = string(c.Identity.Kind)
		a.apiSets, a.scopes = c.Identity.APISets, c.Identity.Scopes
	}
	return a, nil
}

// grantable refuses, naming the field, API sets, scopes or authorities
// that the actor does not itself hold (ADMIN holds every authority):
// nobody grants more than they have. The bootstrap token holds
// everything. Only what is added is checked: an administrator may take
// away what they do not hold.
func (a *actor) grantable(field string, added, held []string) error {
	if a.root {
		return nil
	}
	for _, n := range added {
		if !slices.Contains(held, n) {
			return &httpkit.Error{Status: http.StatusForbidden, Code: "forbidden",
				Description: fmt.Sprintf("%s: you cannot grant %q, which what you authenticated with does not hold", field, n)}
		}
	}
	return nil
}

// grant checks every grant of a request (see grantable); old is what the
// user holds now (nil for a new user).
func (a *actor) grant(old *authz.User, sets, scopes, authorities []string) error {
	var was authz.User
	if old != nil {
		was = *old
	}
	held := a.authorities
	if slices.Contains(held, authz.AuthorityAdmin) {
		held = []string{authz.AuthorityAdmin, authz.AuthorityManageUserAPIKey}
	}
	if err := a.grantable("apiSets", added(sets, was.APISets), a.apiSets); err != nil {
		return err
	}
	if err := a.grantable("scopes", added(scopes, was.Scopes), a.scopes); err != nil {
		return err
	}
	return a.grantable("authorities", added(authorities, was.Authorities), held)
}

// added is what of now was not in before.
func added(now, before []string) []string {
	var out []string
	for _, n := range now {
		if !slices.Contains(before, n) {
			out = append(out, n)
		}
	}
	return out
}
