package selfservice

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/httpkit"
	"github.com/keygate/keygate/ratelimit"
)

// userView is GET /user: the caller and what they authenticated with
// (seed 003's validation step).
type userView struct {
	Name        string         `json:"name"`
	Authorities []string       `json:"authorities"`
	APISets     []string       `json:"apiSets"`
	Scopes      []string       `json:"scopes"`
	Created     time.Time      `json:"created"`
	Credential  credentialUsed `json:"credential"`
}

// credentialUsed is how the caller authenticated: "password", or a
// credential's kind and id with its effective API sets and scopes.
type credentialUsed struct {
	Kind    string   `json:"kind"`
	ID      string   `json:"id,omitempty"`
	APISets []string `json:"apiSets"`
	Scopes  []string `json:"scopes"`
}

func (h *Handler) getUser(w http.ResponseWriter, r *http.Request, c *caller) error {
	u := c.user
	used := credentialUsed{Kind: "password", APISets: httpkit.NonNil(c.apiSets()), Scopes: httpkit.NonNil(c.scopes())}
	if c.identity != nil {
		used.Kind, used.ID = string(c.identity.Kind), c.identity.CredentialID
	}
	httpkit.WriteJSON(w, http.StatusOK, userView{
		Name: u.Name, Authorities: httpkit.NonNil(u.Authorities), APISets: httpkit.NonNil(u.APISets), Scopes: httpkit.NonNil(u.Scopes),
		Created: u.Created, Credential: used,
	})
	return nil
}

// createKeyRequest is POST /user/keys's body (seeds 002 and 003).
type createKeyRequest struct {
	Handle      string   `json:"handle"`
	Alias       string   `json:"alias"`
	Description string   `json:"description"`
	APISets     []string `json:"apiSets"`
	Scopes      []string `json:"scopes"`
	ExpiresAt   string   `json:"expiresAt"`
	// Admin makes a key for the admin API: only for an administrator
	// signed in with their password.
	Admin bool `json:"admin"`
}

// keyCreated is POST /user/keys's answer: the only time the token is shown.
type keyCreated struct {
	Handle      string   `json:"handle"`
	Alias       string   `json:"alias"`
	Description string   `json:"description"`
	APISets     []string `json:"apiSets"`
	Scopes      []string `json:"scopes"`
	Token       string   `json:"token"`
	// Usage is the Authorization header's value, as for every
	// credential (the ApiKey pair's is "ApiKey key:token").
	Usage     string    `json:"usage"`
	ID        string    `json:"id"`
	Created   time.Time `json:"created"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	Admin     bool      `json:"admin,omitempty"`
}

// keyView is a named key as listed and shown. Token and Usage are only
// ever in the answer of GET /user/keys/{handle}, and only where the token
// is retrievable (see getKey).
type keyView struct {
	ID          string `json:"id"`
	Handle      string `json:"handle"`
	Alias       string `json:"alias"`
	Description string `json:"description"`
	httpkit.CredentialState
	Token string `json:"token,omitempty"`
	Usage string `json:"usage,omitempty"`
	// RateLimit is the key's own rate limit, set by an administrator.
	RateLimit *authz.RateLimit `json:"rateLimit,omitempty"`
	// Quotas are the key's quotas and what it has used (details only).
	Quotas []ratelimit.QuotaUsage `json:"quotas,omitempty"`
}

func viewKey(c *authz.Credential) keyView {
	return keyView{
		ID: c.ID, Handle: c.Handle, Alias: c.Alias, Description: c.Description,
		CredentialState: httpkit.ViewCredentialState(c), RateLimit: c.RateLimit,
	}
}

// mayCreate refuses a caller without the MANAGE_USER_API_KEY (or ADMIN)
// authority where self_service.manage_key_authority_for lists kind.
func (h *Handler) mayCreate(c *caller, kind string) error {
	if why := authz.KeyAuthorityRefusal(h.selfSvc, c.user, kind); why != "" {
		return &httpkit.Error{Status: http.StatusForbidden, Code: "forbidden", Description: why}
	}
	return nil
}

// errAdminKeyNeedsPassword: a key for the admin API is made only after a
// password sign-in (or by the CLI), never by another credential.
var errAdminKeyNeedsPassword = &httpkit.Error{Status: http.StatusForbidden, Code: "forbidden",
	Description: "admin: a key for the admin API can only be made after signing in with your password."}

// createKey is POST /user/keys: a named key for the caller, only with the
// MANAGE_USER_API_KEY or ADMIN authority (seed 002); with ?download=1 the
// token comes as a <handle>.APIKEY attachment (seed 002's Download).
func (h *Handler) createKey(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := h.mayCreate(c, config.KeyKindNamedKeys); err != nil {
		return err
	}
	download := false
	for name, vals := range r.URL.Query() {
		if name != "download" || len(vals) != 1 {
			return httpkit.BadRequest("unknown query parameter %q", name)
		}
		switch vals[0] {
		case "1", "true":
			download = true
		case "0", "false", "":
		default:
			return httpkit.BadRequest("download: must be 1 or 0")
		}
	}
	var req createKeyRequest
	if e := httpkit.DecodeJSON(w, r, &req, true); e != nil {
		return e
	}
	createdBy, _, err := h.creator(r.Context(), c)
	if err != nil {
		return err
	}
	if req.Admin && c.identity != nil {
		return errAdminKeyNeedsPassword
	}
	spec := authz.KeySpec{Handle: req.Handle, Alias: req.Alias, Description: req.Description, CreatedBy: createdBy, Admin: req.Admin}
	if req.ExpiresAt != "" {
		t, err := time.Parse(time.RFC3339, req.ExpiresAt)
		if err != nil {
			return httpkit.BadRequest("expiresAt: must be an RFC 3339 date-time such as 2030-01-02T15:04:05Z")
		}
		spec.Expires = t
	}
	if spec.APISets, err = c.bound("apiSets", req.APISets, c.apiSets(), c.user.APISets); err != nil {
		return err
	}
	if spec.Scopes, err = c.bound("scopes", req.Scopes, c.scopes(), c.user.Scopes); err != nil {
		return err
	}
	token, cred, err := h.svc.Accounts.CreateKey(r.Context(), c.user.Name, spec)
	if err != nil {
		return err
	}
	if download {
		hd := w.Header()
		hd.Set("Content-Type", "text/plain; charset=utf-8")
		hd.Set("Content-Disposition", `attachment; filename="`+cred.Handle+`.APIKEY"`)
		hd.Set("Cache-Control", "no-store")
		hd.Set("Pragma", "no-cache")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Content-Length", strconv.Itoa(len(token)+1))
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(token + "\n"))
		return nil
	}
	httpkit.WriteJSON(w, http.StatusCreated, keyCreated{
		Handle: cred.Handle, Alias: cred.Alias, Description: cred.Description,
		APISets: httpkit.NonNil(cred.APISets), Scopes: httpkit.NonNil(cred.Scopes),
		Token: token, Usage: "Bearer " + token,
		ID: cred.ID, Created: cred.Created, ExpiresAt: cred.Expires, Admin: cred.Admin,
	})
	return nil
}

// bound applies what the caller authenticated with to a requested list of
// API sets or scopes: every name must be carried by it, and an empty
// request means all of it. The result is never empty where the owner has
// names (authz reads an empty list as "all of the owner's", which for a
// narrower credential would be more than it carries).
func (c *caller) bound(field string, want, have, owners []string) ([]string, error) {
	if err := within(field, want, have, c); err != nil {
		return nil, err
	}
	if len(want) > 0 {
		return want, nil
	}
	if len(have) == 0 && len(owners) > 0 {
		return nil, httpkit.BadRequest("%s: the credential you authenticated with carries none, so nothing can be granted", field)
	}
	return slices.Clone(have), nil
}

// listKeys is GET /user/keys: the caller's named keys, never their tokens.
// A deleted key (revoked, its handle freed) is not listed; one revoked by
// an administrator but not deleted is, with status "revoked".
func (h *Handler) listKeys(w http.ResponseWriter, r *http.Request, c *caller) error {
	creds, err := h.svc.Accounts.Credentials(r.Context(), c.user.Name)
	if err != nil {
		return err
	}
	keys := []keyView{}
	for i := range creds {
		cr := &creds[i]
		if cr.Kind != authz.KindKeyToken || cr.Handle == "" {
			continue
		}
		if cr.Status == authz.StatusRevoked {
			cur, err := h.svc.Accounts.KeyByHandle(r.Context(), c.user.Name, cr.Handle)
			if errors.Is(err, authz.ErrNotFound) || err == nil && cur.ID != cr.ID {
				continue // deleted
			}
			if err != nil {
				return err
			}
		}
		keys = append(keys, viewKey(cr))
	}
	slices.SortFunc(keys, func(a, b keyView) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.Handle, b.Handle))
	})
	httpkit.WriteJSON(w, http.StatusOK, struct {
		Keys []keyView `json:"keys"`
	}{keys})
	return nil
}

// getKey is GET /user/keys/{handle}: the key and, where retrievable
// secrets are on (auth.encryption_keys), its token again (seed 003: "get
// the details of an existing API key to obtain the long-lived token").
// The token is left out where authz's KeyToken refuses it (not
// retrievable, or the key no longer works: revoked or expired), and where
// mayRetrieve refuses it: a credential may not obtain a secret broader or
// longer-lived than itself.
func (h *Handler) getKey(w http.ResponseWriter, r *http.Request, c *caller) error {
	handle := r.PathValue("handle")
	cred, err := h.svc.Accounts.KeyByHandle(r.Context(), c.user.Name, handle)
	if err != nil {
		return err
	}
	v := viewKey(cred)
	if h.quotas != nil {
		if v.Quotas, err = h.quotas(r.Context(), cred); err != nil {
			return err
		}
	}
	token, err := h.retrieve(r, c, cred.APISets, cred.Scopes, cred.Expires, func(ctx context.Context) (string, error) {
		token, _, err := h.svc.Accounts.KeyToken(ctx, c.user.Name, handle)
		return token, err
	})
	if err != nil {
		return err
	}
	if token != "" {
		v.Token, v.Usage = token, "Bearer "+token
	}
	httpkit.WriteJSON(w, http.StatusOK, v)
	return nil
}

// retrieve gets a secret again with get (authz's KeyToken or
// ClientSecret) for a caller mayRetrieve lets see one of a credential
// with these API sets, scopes and expiry: "" when it may not, when the
// secret is not retrievable, not to be shown (a revoked or expired key),
// or cannot be opened (sealed under an encryption key that is no longer
// configured: logged, not an error to the caller). Store trouble and a
// resource gone meanwhile are errors.
func (h *Handler) retrieve(r *http.Request, c *caller, sets, scopes []string, expires time.Time, get func(context.Context) (string, error)) (string, error) {
	if ok, err := h.mayRetrieve(r.Context(), c, sets, scopes, expires); err != nil || !ok {
		return "", err
	}
	secret, err := get(r.Context())
	switch {
	case err == nil:
		return secret, nil
	case errors.Is(err, authz.ErrNotRetrievable), errors.Is(err, authz.ErrKeyInactive):
		return "", nil
	case errors.Is(err, authz.ErrNotFound), errors.Is(err, authz.ErrUserNotFound), httpkit.Unavailable(err):
		return "", err
	}
	h.log.Warn("a retrievable secret could not be opened; is its encryption key still in auth.encryption_keys?",
		zap.String("route", httpkit.RoutePattern(r)), zap.Error(err))
	return "", nil
}

// deleteKey is DELETE /user/keys/{handle}: the token is refused from now
// on, on every replica, and the handle is free again.
func (h *Handler) deleteKey(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := h.svc.Accounts.DeleteKey(r.Context(), c.user.Name, r.PathValue("handle")); err != nil {
		return err
	}
	httpkit.WriteNoContent(w)
	return nil
}

// apiKeyView is GET /user/apikey (seed 004's Settings > API): the key,
// which never changes unless it is rotated, and its token's state.
type apiKeyView struct {
	Key string `json:"key"`
	// Status: active, voided (after too many wrong tokens) or revoked.
	Status string `json:"status"`
	// Failures: wrong tokens counted against the current token so far.
	Failures int64 `json:"failures"`
	// HasToken: a token was generated (until then nothing authenticates
	// with the key).
	HasToken bool `json:"hasToken"`
}

// errNoAPIKey answers GET /user/apikey and POST /user/apikey/rotate when
// the user has no key yet: a read does not make one.
var errNoAPIKey = &httpkit.Error{Status: http.StatusNotFound, Code: "not_found",
	Description: "You have no ApiKey key yet: generating a token (POST /user/apikey/token) creates the key and its token."}

// mayHoldAPIKey is who may see the ApiKey key, generate its token or
// rotate it: a caller who could generate the token. The key is a secret
// (whoever knows it can void the token with three wrong ones), and the
// pair carries all of the user's API sets and scopes, so a password
// caller may, and a credential only when it carries all of the user's API
// sets and scopes, and write. The answer otherwise is 403
// insufficient_scope naming what the credential lacks.
func (c *caller) mayHoldAPIKey() error {
	if c.identity == nil {
		return nil
	}
	what, name := "", ""
	for _, s := range c.user.APISets {
		if !slices.Contains(c.apiSets(), s) {
			what, name = "API set", s
			break
		}
	}
	if name == "" {
		for _, s := range append(slices.Clone(c.user.Scopes), httpkit.ScopeWrite) {
			if !slices.Contains(c.scopes(), s) {
				what, name = "scope", s
				break
			}
		}
	}
	if name == "" {
		return nil
	}
	e := httpkit.Insufficient(name)
	if what != "scope" {
		e = httpkit.MissingAPISet(name)
	}
	e.Description = fmt.Sprintf("The ApiKey key is shown, and its token generated or key rotated, only with your password or a credential that carries all of your API sets and scopes and write; the credential you authenticated with lacks the %s %q.", what, name)
	return e
}

// getAPIKey is GET /user/apikey: the key and its token's state, for a
// caller who may hold the key; 404 when there is none yet (reading never
// creates it).
func (h *Handler) getAPIKey(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.mayHoldAPIKey(); err != nil {
		return err
	}
	key, cred, err := h.svc.Accounts.ShowAPIKey(r.Context(), c.user.Name)
	if errors.Is(err, authz.ErrNoAPIKey) {
		return errNoAPIKey
	}
	if err != nil {
		return err
	}
	status, failures, err := h.svc.Accounts.APIKeyStatus(r.Context(), c.user.Name)
	if err != nil {
		return err
	}
	httpkit.WriteJSON(w, http.StatusOK, apiKeyView{Key: key, Status: string(status), Failures: failures, HasToken: cred.Generation > 0})
	return nil
}

// errExpiringCannotMakeAPIKey: the ApiKey pair never expires, so a
// credential that does may not make its token.
var errExpiringCannotMakeAPIKey = &httpkit.Error{Status: http.StatusForbidden, Code: "forbidden",
	Description: "The ApiKey token does not expire, so a credential that expires cannot generate it: sign in with your password."}

// errTokenCannotMakeAPIKey: the ApiKey pair is no credential's child, so
// no OAuth access token makes its token.
var errTokenCannotMakeAPIKey = &httpkit.Error{Status: http.StatusForbidden, Code: "forbidden",
	Description: "An OAuth access token cannot generate the ApiKey token, which would not end with its client: sign in with your password."}

// apiKeyToken is the answer of POST /user/apikey/token and POST
// /user/apikey/rotate, shown once.
type apiKeyToken struct {
	Key   string `json:"key"`
	Token string `json:"token"`
	// Usage is the Authorization header's value.
	Usage string `json:"usage"`
}

// mayMakeAPIKeyPair is the rule for generating the ApiKey token and for
// rotating the key: the caller may create an ApiKey pair
// (self_service.manage_key_authority_for), could see the key
// (mayHoldAPIKey), and, since the pair never expires and is no
// credential's child, is neither an OAuth token (not even one whose client
// was made to create credentials: the pair would not end with the client)
// nor a credential that expires.
func (h *Handler) mayMakeAPIKeyPair(ctx context.Context, c *caller) error {
	if err := h.mayCreate(c, config.KeyKindAPIKey); err != nil {
		return err
	}
	if err := c.mayHoldAPIKey(); err != nil {
		return err
	}
	_, p, err := h.creator(ctx, c)
	switch {
	case err != nil:
		return err
	case p != nil && p.Client:
		return errTokenCannotMakeAPIKey
	case p != nil && !p.Expires.IsZero():
		return errExpiringCannotMakeAPIKey
	}
	return nil
}

// newAPIKeyToken is POST /user/apikey/token (seed 004's Generate Token):
// every earlier token stops working; the key is made the first time.
func (h *Handler) newAPIKeyToken(w http.ResponseWriter, r *http.Request, c *caller) error {
	return h.makeAPIKeyPair(w, r, c, h.svc.Accounts.NewAPIKeyToken)
}

// rotateAPIKey is POST /user/apikey/rotate: a new key and a new token;
// the old pair stops working on every replica.
func (h *Handler) rotateAPIKey(w http.ResponseWriter, r *http.Request, c *caller) error {
	return h.makeAPIKeyPair(w, r, c, func(ctx context.Context, user string) (string, string, error) {
		key, token, err := h.svc.Accounts.RotateAPIKey(ctx, user)
		if errors.Is(err, authz.ErrNoAPIKey) {
			err = errNoAPIKey
		}
		return key, token, err
	})
}

// makeAPIKeyPair answers a request that makes an ApiKey pair (its empty
// body, mayMakeAPIKeyPair) with the key and the token newPair returns for the
// caller, shown once.
func (h *Handler) makeAPIKeyPair(w http.ResponseWriter, r *http.Request, c *caller, newPair func(ctx context.Context, user string) (key, token string, err error)) error {
	if e := httpkit.DecodeJSON(w, r, &struct{}{}, false); e != nil {
		return e
	}
	if err := h.mayMakeAPIKeyPair(r.Context(), c); err != nil {
		return err
	}
	key, token, err := newPair(r.Context(), c.user.Name)
	if err != nil {
		return err
	}
	httpkit.WriteJSON(w, http.StatusOK, apiKeyToken{Key: key, Token: token, Usage: "ApiKey " + key + ":" + token})
	return nil
}
