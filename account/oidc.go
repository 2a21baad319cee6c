package account

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/authz/jwtauth"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/audit"
	"github.com/keygate/keygate/store"
)

// Sign-in with an OpenID Connect provider (account.oidc): the
// authorization code flow with PKCE (S256), state and nonce.
//
// What the flow must remember between the redirect to the provider and
// the browser's return (state, nonce, PKCE verifier, redirect URL) is a
// record in the store, like a session, under the digest of a random
// 256-bit token; the browser holds that token in a cookie. So the record
// is on every replica, the cookie holds no secret of the flow, and the
// record is used once: the callback deletes it before it looks further.
// The cookie is SameSite=Lax, since the provider's redirect back is a
// cross-site navigation that a Strict cookie would not go along with.

// Cookie names of the flow; over TLS the __Host- one (Secure, Path=/,
// no Domain: no sibling subdomain can plant one).
const (
	oidcCookie     = "keygate_oidc"
	oidcCookieHost = "__Host-keygate_oidc"
	// oidcFlowTTL is how long a person has at the provider.
	oidcFlowTTL = 10 * time.Minute
)

// oidcFlow is one sign-in under way, as stored.
type oidcFlow struct {
	State       string `json:"state"`
	Nonce       string `json:"nonce"`
	Verifier    string `json:"verifier"`
	RedirectURL string `json:"redirectUrl"`
}

func oidcFlowKey(token string) string { return "account-oidc/" + digestHex(token) }

// provider is account.oidc with its discovery document, read at the first
// sign-in and kept (a provider that is down does not stop keygate from
// starting; it is asked again at the next sign-in).
type provider struct {
	cfg    *config.OIDC
	client *http.Client

	mu       sync.Mutex
	p        *oidc.Provider
	verifier *oidc.IDTokenVerifier
	// failed is when discovery last failed, and err why: for
	// discoveryRetry after it, sign-ins get 503 at once instead of each
	// waiting fetch_timeout in turn.
	failed time.Time
	err    error
}

// discoveryRetry is how long a failed discovery is not tried again.
const discoveryRetry = 5 * time.Second

// errProviderDown: the provider could not be reached or answered
// nonsense; the page says so (503), never "refused".
var errProviderDown = errors.New("account: the identity provider cannot be reached")

func newProvider(cfg *config.OIDC) *provider {
	return &provider{cfg: cfg, client: &http.Client{Timeout: cfg.FetchTimeout}}
}

// discover returns the provider's discovery document and ID token
// verifier (checking iss, aud = client_id, exp and the signature with the
// provider's keys).
func (p *provider) discover(ctx context.Context) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.p != nil {
		return p.p, p.verifier, nil
	}
	if !p.failed.IsZero() && time.Since(p.failed) < discoveryRetry {
		return nil, nil, p.err
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, p.client), p.cfg.FetchTimeout)
	defer cancel()
	op, err := oidc.NewProvider(ctx, p.cfg.Issuer)
	if err != nil {
		p.failed, p.err = time.Now(), fmt.Errorf("%w: %v", errProviderDown, err)
		return nil, nil, p.err
	}
	p.p, p.verifier = op, op.Verifier(&oidc.Config{ClientID: p.cfg.ClientID})
	return p.p, p.verifier, nil
}

func (p *provider) oauth2(op *oidc.Provider, redirect string) *oauth2.Config {
	scopes := p.cfg.Scopes
	if !slices.Contains(scopes, oidc.ScopeOpenID) {
		scopes = append([]string{oidc.ScopeOpenID}, scopes...)
	}
	return &oauth2.Config{ClientID: p.cfg.ClientID, ClientSecret: p.cfg.Secret(), Endpoint: op.Endpoint(), RedirectURL: redirect, Scopes: scopes}
}

// oidcCookieName is the flow cookie's name for r.
func (h *Handler) oidcCookieName(r *http.Request) string {
	if h.secure(r) {
		return oidcCookieHost
	}
	return oidcCookie
}

func (h *Handler) setOIDCCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	c := &http.Cookie{Name: oidcCookie, Value: value, Path: h.base, MaxAge: maxAge, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if h.secure(r) {
		c.Name, c.Path, c.Secure = oidcCookieHost, "/", true
	}
	http.SetCookie(w, c)
}

// redirectURL is account.oidc.redirect_url, or the callback's URL on the
// host and scheme the browser used.
func (h *Handler) redirectURL(r *http.Request) string {
	if u := h.oidc.cfg.RedirectURL; u != "" {
		return u
	}
	scheme := "http"
	if h.secure(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host + h.path("/oidc/callback")
}

// oidcStart sends the browser to the provider with a new state, nonce and
// PKCE challenge, remembered under the flow cookie.
func (h *Handler) oidcStart(w http.ResponseWriter, r *http.Request) {
	op, _, err := h.oidc.discover(r.Context())
	if err != nil {
		h.providerDown(w, r, err)
		return
	}
	if !h.mayStartOIDC(w, r) {
		return
	}
	flow := oidcFlow{State: newToken(), Nonce: newToken(), Verifier: oauth2.GenerateVerifier(), RedirectURL: h.redirectURL(r)}
	token := newToken()
	b, _ := json.Marshal(flow)
	if _, err := h.sessions.Put(r.Context(), oidcFlowKey(token), b, store.WriteOptions{TTL: oidcFlowTTL}); err != nil {
		h.fail(w, r, nil, fmt.Errorf("%w: storing the sign-in: %w", authz.ErrUnavailable, err))
		return
	}
	h.setOIDCCookie(w, r, token, int(oidcFlowTTL/time.Second))
	to := h.oidc.oauth2(op, flow.RedirectURL).AuthCodeURL(flow.State, oidc.Nonce(flow.Nonce), oauth2.S256ChallengeOption(flow.Verifier))
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// mayStartOIDC counts a start for the client address, in the store, in
// windows of oidcFlowTTL (the window is fixed when its first start comes,
// so a client that keeps trying does not extend it). Past
// max_starts_per_address it answers 429 with the rest of the window as
// Retry-After, and the caller stores nothing; a store that cannot count
// fails closed.
func (h *Handler) mayStartOIDC(w http.ResponseWriter, r *http.Request) bool {
	client := h.trusted.ClientAddr(r)
	window := h.now().Unix() / int64(oidcFlowTTL/time.Second)
	key := fmt.Sprintf("account-oidc-starts/%s/%d", client, window)
	n, err := h.sessions.Incr(r.Context(), key, 1, oidcFlowTTL)
	if err != nil {
		h.fail(w, r, nil, fmt.Errorf("%w: counting the sign-in: %w", authz.ErrUnavailable, err))
		return false
	}
	if n <= int64(h.oidc.cfg.MaxStartsPerAddress) {
		return true
	}
	h.log.Warn("account: too many sign-ins with the identity provider started", zap.String("client", client.String()), zap.Int64("started", n))
	left := (window+1)*int64(oidcFlowTTL/time.Second) - h.now().Unix()
	w.Header().Set("Retry-After", strconv.FormatInt(max(left, 1), 10))
	h.renderSignin(w, r, http.StatusTooManyRequests, "", "Too many sign-ins were started from your address. Please try again later.")
	return false
}

// oidcRefused is a sign-in the callback refuses: status and the words of
// the page (which never say more than the person told the provider).
type oidcRefused struct {
	status int
	msg    string
	why    string // logged
}

func (e *oidcRefused) Error() string { return e.why }

func refused(status int, msg, why string) *oidcRefused { return &oidcRefused{status, msg, why} }

const startAgain = "This sign-in has expired or was not started in this browser. Please sign in again."

// oidcCallback finishes the flow: the flow record (used once), the state,
// the code exchanged with the PKCE verifier, the ID token verified (the
// provider's signature, iss, aud, exp) with its nonce, then the user, and
// a session exactly like a password sign-in's.
func (h *Handler) oidcCallback(w http.ResponseWriter, r *http.Request) {
	u, err := h.oidcUser(w, r)
	var re *oidcRefused
	switch {
	case errors.As(err, &re):
		h.log.Warn("account: sign-in with the identity provider refused", zap.String("reason", re.why), zap.String("client", h.trusted.ClientAddr(r).String()))
		h.renderSignin(w, r, re.status, "", re.msg)
		return
	case errors.Is(err, errProviderDown):
		h.providerDown(w, r, err)
		return
	case err != nil:
		h.fail(w, r, nil, err)
		return
	}
	if !h.signIn(w, r, u, "oidc") {
		return
	}
	// The provider's redirect made this a cross-site navigation, and a
	// redirect from here would still be one: the SameSite=Strict session
	// cookie would not go along. A page of our own that moves on is a
	// same-site navigation.
	h.render(w, http.StatusOK, "continue", view{Title: "Signed in", Page: h.path("/profile")})
}

// oidcUser runs the callback's checks and returns the keygate user.
func (h *Handler) oidcUser(w http.ResponseWriter, r *http.Request) (*authz.User, error) {
	ctx := r.Context()
	c, err := r.Cookie(h.oidcCookieName(r))
	h.setOIDCCookie(w, r, "", -1)
	if err != nil || !validToken(c.Value) {
		return nil, refused(http.StatusBadRequest, startAgain, "no flow cookie")
	}
	key := oidcFlowKey(c.Value)
	rec, err := h.sessions.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, refused(http.StatusBadRequest, startAgain, "unknown or expired flow")
	}
	if err != nil {
		return nil, err
	}
	// Used once: whoever deletes it goes on.
	if err := h.sessions.Delete(ctx, key, rec.Version); errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		return nil, refused(http.StatusBadRequest, startAgain, "flow already used")
	} else if err != nil {
		return nil, err
	}
	var flow oidcFlow
	if err := json.Unmarshal(rec.Value, &flow); err != nil {
		return nil, fmt.Errorf("decoding the sign-in: %w", err)
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(flow.State)) != 1 {
		return nil, refused(http.StatusBadRequest, startAgain, "state does not match")
	}
	if e := q.Get("error"); e != "" {
		return nil, refused(http.StatusForbidden, fmt.Sprintf("%s did not sign you in (%s).", h.oidc.cfg.Name, clip(e, 64)), "provider answered "+clip(e, 64))
	}
	code := q.Get("code")
	if code == "" {
		return nil, refused(http.StatusBadRequest, startAgain, "no code")
	}
	op, verifier, err := h.oidc.discover(ctx)
	if err != nil {
		return nil, err
	}
	xctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, h.oidc.client), h.oidc.cfg.FetchTimeout)
	defer cancel()
	tok, err := h.oidc.oauth2(op, flow.RedirectURL).Exchange(xctx, code, oauth2.VerifierOption(flow.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			return nil, refused(http.StatusForbidden, fmt.Sprintf("%s did not accept this sign-in. Please sign in again.", h.oidc.cfg.Name), "token exchange refused: "+clip(re.ErrorCode, 64))
		}
		return nil, fmt.Errorf("%w: token exchange: %v", errProviderDown, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, refused(http.StatusForbidden, fmt.Sprintf("%s sent no ID token.", h.oidc.cfg.Name), "no id_token")
	}
	idt, err := verifier.Verify(xctx, raw)
	if err != nil {
		return nil, refused(http.StatusForbidden, fmt.Sprintf("The answer of %s could not be verified. Please sign in again.", h.oidc.cfg.Name), "ID token: "+err.Error())
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(flow.Nonce)) != 1 {
		return nil, refused(http.StatusForbidden, fmt.Sprintf("The answer of %s could not be verified. Please sign in again.", h.oidc.cfg.Name), "nonce does not match")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, refused(http.StatusForbidden, fmt.Sprintf("The answer of %s could not be read.", h.oidc.cfg.Name), "claims: "+err.Error())
	}
	name, err := h.matchName(claims)
	if err != nil {
		return nil, err
	}
	return h.oidcAccount(ctx, name, claims)
}

// userName is what authz takes as a user name.
var userName = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,64}$`)

// matchName is the keygate user name the ID token's match claim names.
func (h *Handler) matchName(claims map[string]any) (string, error) {
	cfg := h.oidc.cfg
	v, _ := claims[cfg.MatchClaim].(string)
	if v == "" {
		return "", refused(http.StatusForbidden, fmt.Sprintf("%s did not tell keygate your %s.", cfg.Name, claimWords(cfg.MatchClaim)), "no "+cfg.MatchClaim+" claim")
	}
	if cfg.MatchClaim == config.MatchEmail {
		if !verified(claims["email_verified"]) {
			return "", refused(http.StatusForbidden, fmt.Sprintf("Your email address is not verified at %s, so keygate cannot go by it.", cfg.Name), "email not verified")
		}
		v = strings.ToLower(v)
	}
	if !userName.MatchString(v) {
		return "", refused(http.StatusForbidden, fmt.Sprintf("Your %s at %s cannot be a keygate user name.", claimWords(cfg.MatchClaim), cfg.Name), "claim is not a user name")
	}
	return v, nil
}

// verified reads email_verified: true, or "true" as some providers send it.
func verified(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}

func claimWords(claim string) string {
	if claim == config.MatchEmail {
		return "email address"
	}
	return "user name"
}

// oidcAccount is the keygate user called name: an existing one that is
// not disabled, or, with provision, a new one with what the claims map to.
// Everybody else gets the same refusal, which names only what the person
// told the provider.
func (h *Handler) oidcAccount(ctx context.Context, name string, claims map[string]any) (*authz.User, error) {
	cfg := h.oidc.cfg
	noAccount := refused(http.StatusForbidden, fmt.Sprintf("%s has no keygate account that can sign in here. Ask an administrator.", name), "")
	u, err := h.svc.Accounts.GetUser(ctx, name)
	if err == nil {
		if u.Disabled {
			noAccount.why = "user disabled"
			return nil, noAccount
		}
		return u, nil
	}
	if !errors.Is(err, authz.ErrUserNotFound) {
		return nil, err
	}
	if !cfg.Provision {
		noAccount.why = "no such user, provision off"
		return nil, noAccount
	}
	nu := authz.User{Name: name, APISets: mapped(cfg.Claims.APISets, claims), Authorities: mapped(cfg.Claims.Authorities, claims), Scopes: slices.Clone(cfg.ProvisionScopes)}
	if nu.APISets == nil {
		nu.APISets = []string{}
	}
	// The person signing in is the actor of their own account's creation
	// (create_user, written by the credential model).
	u, err = h.svc.Accounts.CreateUser(audit.WithActor(ctx, audit.Actor{Name: name, Auth: "oidc", Via: "account"}), nu)
	if errors.Is(err, authz.ErrUserExists) { // a sign-in at the same time made it
		return h.oidcAccount(ctx, name, claims)
	}
	if err != nil {
		return nil, err
	}
	sub, _ := claims["sub"].(string)
	h.log.Info("account: user provisioned from the identity provider", zap.String("user", u.Name),
		zap.String("issuer", cfg.Issuer), zap.String("subject", clip(sub, 256)),
		zap.Strings("api_sets", u.APISets), zap.Strings("authorities", u.Authorities))
	return u, nil
}

// mapped is the union of what m grants for the values of its claim (a
// list, a space-separated string, or a dotted path into objects).
func mapped(m *config.JWTClaimMap, claims map[string]any) []string {
	if m == nil {
		return nil
	}
	var out []string
	for _, val := range jwtauth.ClaimNames(claims, m.Claim) {
		for _, g := range m.Values[val] {
			if !slices.Contains(out, g) {
				out = append(out, g)
			}
		}
	}
	slices.Sort(out)
	return out
}

// clip shortens what a provider or a URL said before it is shown or
// logged.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > n {
		return s[:n]
	}
	return s
}

// providerDown answers 503 with Retry-After and the sign-in page saying
// what happened.
func (h *Handler) providerDown(w http.ResponseWriter, r *http.Request, err error) {
	h.log.Warn("account: identity provider unavailable", zap.Error(err))
	w.Header().Set("Retry-After", "30")
	msg := fmt.Sprintf("%s cannot be reached right now. Please try again in a moment.", h.oidc.cfg.Name)
	if !h.oidc.cfg.Only {
		msg += " You can also sign in with your keygate password."
	}
	h.renderSignin(w, r, http.StatusServiceUnavailable, "", msg)
}
