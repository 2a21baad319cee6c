package selfservice

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/audit"
	"github.com/keygate/keygate/internal/httpkit"
)

// oauthError is an RFC 6749 §5.2 error answer (400 unless said otherwise).
func oauthError(code, description string) *httpkit.Error {
	return &httpkit.Error{Status: http.StatusBadRequest, Code: code, Description: description}
}

// challengeClient is the WWW-Authenticate challenge of a 401 to an OAuth
// client (RFC 6749 §5.2).
var challengeClient = []string{`Basic realm="keygate"`}

// errInvalidClient: client authentication failed (RFC 6749 §5.2): 401 with
// a Basic challenge, whichever way the client tried.
var errInvalidClient = &httpkit.Error{Status: http.StatusUnauthorized, Code: "invalid_client",
	Description: "Client authentication failed.", Challenge: challengeClient}

// errTooManyClientFailures: the address failed client authentication too
// often (auth.failure_limit); it is refused before any look-up.
var errTooManyClientFailures = &httpkit.Error{Status: http.StatusTooManyRequests, Code: "too_many_requests",
	Description: "Too many failed client authentications from this address; retry later."}

// clientRequest reads the form of a client's request (POST /oauth/token,
// /oauth/revoke) and authenticates the client.
func (h *Handler) clientRequest(w http.ResponseWriter, r *http.Request) (url.Values, *authz.Client, error) {
	form, e := readForm(w, r)
	if e != nil {
		return nil, nil, e
	}
	c, err := h.authenticateClient(r, form)
	if err != nil {
		return nil, nil, err
	}
	return form, c, nil
}

// authenticateClient authenticates the OAuth client of a request to the
// token, revocation or introspection endpoint (RFC 6749 §2.3.1): HTTP
// Basic with the form-urlencoded client id and secret, or the client_id
// and client_secret parameters, never both.
func (h *Handler) authenticateClient(r *http.Request, form url.Values) (*authz.Client, error) {
	values := r.Header["Authorization"]
	formID, formSecret := form.Get("client_id"), form.Get("client_secret")
	var id, secret string
	switch {
	case len(values) > 1:
		return nil, oauthError("invalid_request", "More than one Authorization header.")
	case len(values) == 1:
		if !httpkit.IsBasic(values[0]) {
			return nil, errInvalidClient
		}
		if formSecret != "" {
			return nil, oauthError("invalid_request", "Use one client authentication method: HTTP Basic or client_secret, not both.")
		}
		var ok bool
		if id, secret, ok = basicClient(r); !ok {
			return nil, errInvalidClient
		}
		if formID != "" && formID != id {
			return nil, oauthError("invalid_request", "client_id differs from the client of the Authorization header.")
		}
	case formSecret != "":
		if formID == "" {
			return nil, oauthError("invalid_request", "client_id is required with client_secret.")
		}
		id, secret = formID, formSecret
	default:
		return nil, errInvalidClient
	}
	addr := h.trusted.ClientAddr(r)
	if g := h.clientFailures; g != nil {
		if wait, blocked := g.Blocked(addr); blocked {
			e := *errTooManyClientFailures
			e.RetryAfter = max(int((wait+time.Second-1)/time.Second), 1)
			return nil, &e
		}
	}
	c, err := h.svc.OAuth.AuthenticateClient(r.Context(), id, secret)
	if errors.Is(err, authz.ErrInvalidClient) {
		if h.clientFailures != nil {
			h.clientFailures.Failed(addr)
		}
		return nil, errInvalidClient
	}
	if err != nil {
		return nil, err
	}
	httpkit.SetCaller(r, c.Owner)
	return c, nil
}

// asClient is ctx with the client as the actor of what its request
// changes (a revocation, a family revoked on a refresh token's reuse).
func asClient(ctx context.Context, c *authz.Client) context.Context {
	a := audit.ActorFrom(ctx)
	a.Name, a.Auth, a.ClientID = c.Owner, "client_secret", c.ID
	return audit.WithActor(ctx, a)
}

// basicClient reads a client id and secret from HTTP Basic: both are
// form-urlencoded before they are joined (RFC 6749 §2.3.1).
func basicClient(r *http.Request) (id, secret string, ok bool) {
	u, p, ok := r.BasicAuth()
	if !ok {
		return "", "", false
	}
	id, err1 := url.QueryUnescape(u)
	secret, err2 := url.QueryUnescape(p)
	if err1 != nil || err2 != nil || id == "" || secret == "" {
		return "", "", false
	}
	return id, secret, true
}

// parseScope reads RFC 6749 §3.3's scope parameter: scope tokens of
// printable ASCII but space, " and \, one space apart.
func parseScope(s string) ([]string, *httpkit.Error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, " ")
	for _, p := range parts {
		if p == "" {
			return nil, oauthError("invalid_scope", "scope: scope tokens are separated by single spaces.")
		}
		for i := 0; i < len(p); i++ {
			if c := p[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
				return nil, oauthError("invalid_scope", "scope: not a valid scope token.")
			}
		}
	}
	return parts, nil
}

// tokenJSON is RFC 6749 §5.1's successful response.
type tokenJSON struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// token is POST /oauth/token: the client_credentials grant (RFC 6749
// §4.4) and the refresh_token grant (§6), which rotates refresh tokens.
func (h *Handler) token(w http.ResponseWriter, r *http.Request, _ *caller) error {
	form, c, err := h.clientRequest(w, r)
	if err != nil {
		return err
	}
	scope, e := parseScope(form.Get("scope"))
	if e != nil {
		return e
	}
	var resp *authz.TokenResponse
	switch grant := form.Get("grant_type"); grant {
	case "":
		return oauthError("invalid_request", "grant_type is required.")
	case authz.GrantClientCredentials:
		resp, err = h.svc.OAuth.ClientCredentialsGrant(r.Context(), c, scope)
	case authz.GrantRefreshToken:
		rt := form.Get("refresh_token")
		if rt == "" {
			return oauthError("invalid_request", "refresh_token is required.")
		}
		resp, err = h.svc.OAuth.RefreshGrant(asClient(r.Context(), c), c, rt, scope)
	default:
		return oauthError("unsupported_grant_type", "grant_type must be client_credentials or refresh_token.")
	}
	switch {
	case errors.Is(err, authz.ErrUnauthorizedClient):
		return oauthError("unauthorized_client", "The client may not use this grant type.")
	case errors.Is(err, authz.ErrInvalidGrant):
		return oauthError("invalid_grant", "The refresh token is not valid.")
	case errors.Is(err, authz.ErrInvalidScope):
		return oauthError("invalid_scope", "The requested scope is not granted to the client.")
	case errors.Is(err, authz.ErrInvalidClient):
		return errInvalidClient
	case err != nil:
		return err
	}
	out := tokenJSON{AccessToken: resp.AccessToken, TokenType: "Bearer", ExpiresIn: resp.ExpiresIn, RefreshToken: resp.RefreshToken}
	if resp.Narrowed {
		out.Scope = strings.Join(resp.Scope, " ")
	}
	httpkit.WriteJSON(w, http.StatusOK, out)
	return nil
}

// revoke is POST /oauth/revoke (RFC 7009): the client is authenticated
// first; a token that is unknown or already invalid is answered 200 like
// any other (§2.2); a token issued to another client is refused with
// unauthorized_client and stays valid (§2.1). A refresh token takes its
// family (every token obtained with it) with it. The answer is {} as
// application/json: clients that parse every answer as JSON (such as
// simple-oauth2) refuse an empty untyped body.
func (h *Handler) revoke(w http.ResponseWriter, r *http.Request, _ *caller) error {
	form, c, err := h.clientRequest(w, r)
	if err != nil {
		return err
	}
	token := form.Get("token")
	if token == "" {
		return oauthError("invalid_request", "token is required.")
	}
	// token_type_hint is only a hint (RFC 7009 §2.1): keygate tells the
	// kind from the token itself.
	err = h.svc.OAuth.RevokeToken(asClient(r.Context(), c), c, token)
	if errors.Is(err, authz.ErrUnauthorizedClient) {
		return oauthError("unauthorized_client", "The token was issued to another client.")
	}
	if err != nil {
		return err
	}
	httpkit.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

// inactive is RFC 7662's answer for anything that is not an active token.
var inactive = struct {
	Active bool `json:"active"`
}{}

// introspect is POST /oauth/introspect (RFC 7662). The caller must be an
// OAuth client (HTTP Basic with its id and secret) or a signed-in user
// (password or a credential). A caller learns only about tokens of its
// own user (a client: of the user who owns it); an ADMIN user about any.
// Everything else, unknown and inactive tokens included, is exactly
// {"active": false}.
func (h *Handler) introspect(w http.ResponseWriter, r *http.Request, _ *caller) error {
	form, e := readForm(w, r)
	if e != nil {
		return e
	}
	owner, admin, err := h.introspectionCaller(r, form)
	if err != nil {
		return err
	}
	token := form.Get("token")
	if token == "" {
		return oauthError("invalid_request", "token is required.")
	}
	in, err := h.svc.OAuth.Introspect(r.Context(), token)
	if err != nil {
		return err
	}
	if !in.Active || !admin && in.Username != owner {
		httpkit.WriteJSON(w, http.StatusOK, inactive)
		return nil
	}
	httpkit.WriteJSON(w, http.StatusOK, in)
	return nil
}

// introspectionCaller authenticates the caller of the introspection
// endpoint: with client_id and client_secret in the form
// (client_secret_post, as at the token and revocation endpoints); with
// HTTP Basic, as a client and else as a user with a password; otherwise
// with a credential of the user's own.
func (h *Handler) introspectionCaller(r *http.Request, form url.Values) (owner string, admin bool, err error) {
	if form.Get("client_secret") != "" {
		c, err := h.authenticateClient(r, form)
		if err != nil {
			return "", false, err
		}
		return c.Owner, false, nil
	}
	values := r.Header["Authorization"]
	if len(values) == 1 && httpkit.IsBasic(values[0]) {
		if id, secret, ok := basicClient(r); ok {
			c, err := h.svc.OAuth.AuthenticateClient(r.Context(), id, secret)
			if err == nil {
				httpkit.SetCaller(r, c.Owner)
				return c.Owner, false, nil
			}
			if !errors.Is(err, authz.ErrInvalidClient) {
				return "", false, err
			}
		}
	}
	c, err := h.authenticate(r)
	if err != nil {
		var he *httpkit.Error
		if errors.As(err, &he) && he.Status == http.StatusUnauthorized && len(values) == 1 && httpkit.IsBasic(values[0]) {
			return "", false, &httpkit.Error{Status: http.StatusUnauthorized, Code: "invalid_client",
				Description: "Neither a client nor a user could be authenticated.", Challenge: httpkit.ChallengeUser}
		}
		return "", false, err
	}
	httpkit.SetCaller(r, c.user.Name)
	return c.user.Name, c.user.Has(authz.AuthorityAdmin), nil
}
