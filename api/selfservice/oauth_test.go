package selfservice_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/authz"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// TestOAuth2ClientLibrary: golang.org/x/oauth2's client credentials flow,
// which nobody here wrote, obtains a token from keygate and calls a
// proxied route with it; the route refuses it after the client revokes
// it (RFC 7009), and refuses it on an API set the client lacks.
func TestOAuth2ClientLibrary(t *testing.T) {
	forEachBackend(t, "", func(t *testing.T, e *env) {
		alice := e.user(t, "alice", []string{"orders", "billing"}, []string{"read", "write"})
		id, secret := e.createClient(t, alice, `{"resourceIds": ["orders"]}`)

		for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
			cc := &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: e.base + "/oauth/token", AuthStyle: style}
			tok, err := cc.Token(t.Context())
			if err != nil {
				t.Fatalf("x/oauth2 Token (auth style %d): %v", style, err)
			}
			if tok.TokenType != "Bearer" || tok.Expiry.Before(time.Now().Add(11*time.Hour)) {
				t.Errorf("token: type %q, expiry %v; want Bearer and about 12h", tok.TokenType, tok.Expiry)
			}
			hc := oauth2.NewClient(t.Context(), oauth2.StaticTokenSource(tok))
			resp, err := hc.Get(e.base + "/orders/1")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), `"X-Keygate-User": "alice"`) || !strings.Contains(string(body), `"X-Keygate-Credential-Kind": "access_token"`) {
				t.Fatalf("proxied route with the x/oauth2 token: %d %s", resp.StatusCode, body)
			}
			if r := e.call(t, "GET", "/billing/1", "Bearer "+tok.AccessToken, "", ""); r.Status != 403 {
				t.Errorf("token of an orders client on the billing route: %s, want 403", r)
			}

			r := e.postForm(t, "/oauth/revoke", clientBasic(id, secret), url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}})
			want(t, "revoke", r, 200)
			resp, err = hc.Get(e.base + "/orders/1")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Errorf("revoked token on its route: %d, want 401", resp.StatusCode)
			}
		}

		// A narrowed scope comes back in the response (RFC 6749 §5.1)
		// and binds the token: read only.
		cc := &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: e.base + "/oauth/token", Scopes: []string{"read"}}
		tok, err := cc.Token(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got := tok.Extra("scope"); got != "read" {
			t.Errorf("scope in a narrowed response = %v, want \"read\"", got)
		}
		if r := e.call(t, "POST", "/orders/1", "Bearer "+tok.AccessToken, "", ""); r.Status != 403 {
			t.Errorf("read-only token on POST: %s, want 403", r)
		}
		cc.Scopes = []string{"admin"}
		_, err = cc.Token(t.Context())
		var re *oauth2.RetrieveError
		if !asRetrieveError(err, &re) || re.ErrorCode != "invalid_scope" {
			t.Errorf("x/oauth2 with a scope the client lacks: %v, want invalid_scope", err)
		}
		cc.Scopes, cc.ClientSecret = nil, "kgs_wrong"
		_, err = cc.Token(t.Context())
		if !asRetrieveError(err, &re) || re.ErrorCode != "invalid_client" {
			t.Errorf("x/oauth2 with a wrong secret: %v, want invalid_client", err)
		}
	})
}

func asRetrieveError(err error, re **oauth2.RetrieveError) bool {
	r, ok := err.(*oauth2.RetrieveError)
	if ok {
		*re = r
	}
	return ok
}

// TestRefreshRotation: a short-lived access token expires, the refresh
// token gets a new one (and a new refresh token), and presenting the
// rotated refresh token again revokes the whole family.
func TestRefreshRotation(t *testing.T) {
	forEachBackend(t, "", func(t *testing.T, e *env) {
		alice := e.user(t, "alice", []string{"orders"}, []string{"read", "write"})
		id, secret := e.createClient(t, alice, `{"accessTokenValiditySeconds": 1}`)
		auth := clientBasic(id, secret)

		first := e.token(t, auth, url.Values{"grant_type": {"client_credentials"}})
		if first.RefreshToken == "" || first.ExpiresIn != 1 || first.TokenType != "Bearer" || first.Scope != "" {
			t.Fatalf("client_credentials response: %+v", first)
		}
		if r := e.call(t, "GET", "/orders/1", "Bearer "+first.AccessToken, "", ""); r.Status != 200 {
			t.Fatalf("fresh access token: %s", r)
		}
		time.Sleep(1100 * time.Millisecond)
		if r := e.call(t, "GET", "/orders/1", "Bearer "+first.AccessToken, "", ""); r.Status != 401 {
			t.Fatalf("expired access token: %s, want 401", r)
		}

		second := e.token(t, auth, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}})
		if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
			t.Fatalf("refresh did not rotate the refresh token: %+v", second)
		}
		if r := e.call(t, "GET", "/orders/1", "Bearer "+second.AccessToken, "", ""); r.Status != 200 {
			t.Fatalf("refreshed access token: %s", r)
		}
		// Narrowing on refresh.
		third := e.token(t, auth, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {second.RefreshToken}, "scope": {"read"}})
		if third.Scope != "read" {
			t.Errorf("narrowed refresh: scope %q, want read", third.Scope)
		}

		// The first refresh token was rotated: presenting it again is
		// invalid_grant and revokes everything descended from it.
		r := e.postForm(t, "/oauth/token", auth, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}})
		wantError(t, "rotated refresh token again", r, 400, "invalid_grant")
		if r := e.call(t, "GET", "/orders/1", "Bearer "+third.AccessToken, "", ""); r.Status != 401 {
			t.Errorf("access token of a revoked family: %s, want 401", r)
		}
		r = e.postForm(t, "/oauth/token", auth, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {third.RefreshToken}})
		wantError(t, "newest refresh token of a revoked family", r, 400, "invalid_grant")

		// Another client cannot use alice's client's refresh token.
		other, otherSecret := e.createClient(t, alice, "")
		fresh := e.token(t, auth, url.Values{"grant_type": {"client_credentials"}})
		r = e.postForm(t, "/oauth/token", clientBasic(other, otherSecret), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {fresh.RefreshToken}})
		wantError(t, "another client's refresh token", r, 400, "invalid_grant")
		// Revoking a refresh token takes its access tokens with it.
		want(t, "revoke refresh token", e.postForm(t, "/oauth/revoke", auth, url.Values{"token": {fresh.RefreshToken}}), 200)
		if r := e.call(t, "GET", "/orders/1", "Bearer "+fresh.AccessToken, "", ""); r.Status != 401 {
			t.Errorf("access token after its refresh token was revoked: %s, want 401", r)
		}
	})
}

// TestRefreshWithOAuth2Library: golang.org/x/oauth2's refreshing token
// source, as a client uses it, against two rules: a refresh refused with
// invalid_scope leaves the refresh token usable (a failed request changes
// nothing, RFC 6749 §5.2), and a refresh that narrows the scope narrows
// only its access token, so x/oauth2's ordinary refresh (which sends no
// scope) with the new refresh token gets the whole grant back (RFC 6749 §6).
func TestRefreshWithOAuth2Library(t *testing.T) {
	forEachBackend(t, "", func(t *testing.T, e *env) {
		alice := e.user(t, "alice", []string{"orders"}, []string{"read", "write"})
		id, secret := e.createClient(t, alice, "")
		auth := clientBasic(id, secret)
		conf := &oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: oauth2.Endpoint{TokenURL: e.base + "/oauth/token"}}
		// refresh has x/oauth2 exchange a refresh token, as it does when
		// its access token has expired.
		refresh := func(t *testing.T, rt string) *oauth2.Token {
			t.Helper()
			tok, err := conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: rt}).Token()
			if err != nil {
				t.Fatalf("x/oauth2 refresh: %v", err)
			}
			return tok
		}
		first := e.token(t, auth, url.Values{"grant_type": {"client_credentials"}})

		r := e.postForm(t, "/oauth/token", auth, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}, "scope": {"admin"}})
		wantError(t, "refresh with a scope the grant lacks", r, 400, "invalid_scope")
		if r := e.call(t, "GET", "/orders/1", "Bearer "+first.AccessToken, "", ""); r.Status != 200 {
			t.Errorf("access token after a refused refresh: %s, want 200 (no family revocation)", r)
		}
		second := refresh(t, first.RefreshToken)
		if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
			t.Fatalf("x/oauth2 refresh after a refused one: refresh token %q, want a new one", second.RefreshToken)
		}

		narrowed := e.token(t, auth, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {second.RefreshToken}, "scope": {"read"}})
		if narrowed.Scope != "read" {
			t.Errorf("narrowing refresh: scope %q, want \"read\"", narrowed.Scope)
		}
		if r := e.call(t, "POST", "/orders/1", "Bearer "+narrowed.AccessToken, "", ""); r.Status != 403 {
			t.Errorf("narrowed access token on POST: %s, want 403", r)
		}
		full := refresh(t, narrowed.RefreshToken)
		if got := full.Extra("scope"); got != nil && got != "" {
			t.Errorf("x/oauth2 refresh after a narrowing one: scope %v in the response, want none (the whole grant)", got)
		}
		if r := e.call(t, "POST", "/orders/1", "Bearer "+full.AccessToken, "", ""); r.Status != 200 {
			t.Errorf("access token of a refresh after a narrowing one, on POST: %s, want 200 (the refresh token kept its scope)", r)
		}
	})
}

// TestTokenEndpointErrors: every RFC 6749 §5.2 error, with its status,
// headers and body.
func TestTokenEndpointErrors(t *testing.T) {
	e := newEnv(t, "embedded", "")
	alice := e.user(t, "alice", []string{"orders"}, []string{"read", "write"})
	id, secret := e.createClient(t, alice, "")
	auth := clientBasic(id, secret)
	cc := url.Values{"grant_type": {"client_credentials"}}
	form := "application/x-www-form-urlencoded"

	tests := []struct {
		name          string
		authorization string
		ctype, body   string
		path          string // default /oauth/token
		status        int
		code          string
	}{
		{"no grant_type", auth, form, "", "", 400, "invalid_request"},
		{"unknown grant_type", auth, form, "grant_type=password&username=a&password=b", "", 400, "unsupported_grant_type"},
		{"authorization_code", auth, form, "grant_type=authorization_code&code=x", "", 400, "unsupported_grant_type"},
		{"no client authentication", "", form, cc.Encode(), "", 401, "invalid_client"},
		{"wrong secret, Basic", clientBasic(id, "kgs_wrong"), form, cc.Encode(), "", 401, "invalid_client"},
		{"unknown client, Basic", clientBasic("nobody", secret), form, cc.Encode(), "", 401, "invalid_client"},
		{"wrong secret, form", "", form, cc.Encode() + "&client_id=" + id + "&client_secret=kgs_wrong", "", 401, "invalid_client"},
		{"Bearer at the token endpoint", "Bearer kgl_x", form, cc.Encode(), "", 401, "invalid_client"},
		{"Basic and client_secret", auth, form, cc.Encode() + "&client_secret=" + secret, "", 400, "invalid_request"},
		{"client_secret without client_id", "", form, cc.Encode() + "&client_secret=" + secret, "", 400, "invalid_request"},
		{"client_id differing from Basic", auth, form, cc.Encode() + "&client_id=other", "", 400, "invalid_request"},
		{"repeated parameter", auth, form, cc.Encode() + "&grant_type=client_credentials", "", 400, "invalid_request"},
		{"JSON body", auth, "application/json", `{"grant_type": "client_credentials"}`, "", 400, "invalid_request"},
		{"no Content-Type", auth, "", cc.Encode(), "", 400, "invalid_request"},
		{"parameters in the URL", auth, form, "", "/oauth/token?grant_type=client_credentials", 400, "invalid_request"},
		{"scope not granted", auth, form, cc.Encode() + "&scope=read+admin", "", 400, "invalid_scope"},
		{"malformed scope", auth, form, cc.Encode() + "&scope=read++write", "", 400, "invalid_scope"},
		{"refresh without refresh_token", auth, form, "grant_type=refresh_token", "", 400, "invalid_request"},
		{"unknown refresh token", auth, form, "grant_type=refresh_token&refresh_token=kgr_nope", "", 400, "invalid_grant"},
		{"access token as refresh token", auth, form, "grant_type=refresh_token&refresh_token=kga_nope", "", 400, "invalid_grant"},
		{"revoke without token", auth, form, "", "/oauth/revoke", 400, "invalid_request"},
		{"revoke without client", "", form, "token=kga_x", "/oauth/revoke", 401, "invalid_client"},
		{"introspect without token", auth, form, "", "/oauth/introspect", 400, "invalid_request"},
		{"introspect without caller", "", form, "token=kga_x", "/oauth/introspect", 401, "unauthorized"},
		{"introspect, bad Basic", clientBasic(id, "kgs_wrong"), form, "token=kga_x", "/oauth/introspect", 401, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = "/oauth/token"
			}
			r := e.call(t, "POST", path, tt.authorization, tt.ctype, tt.body)
			wantError(t, "POST "+path+" ("+tt.name+")", r, tt.status, tt.code)
			if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Pragma") != "no-cache" {
				t.Errorf("Cache-Control %q, Pragma %q; want no-store, no-cache", r.Header.Get("Cache-Control"), r.Header.Get("Pragma"))
			}
			if tt.status == 401 && !strings.Contains(r.Header.Get("Www-Authenticate"), `Basic realm="keygate"`) {
				t.Errorf("401 without a Basic challenge: WWW-Authenticate %q", r.Header.Values("Www-Authenticate"))
			}
		})
	}

	r := e.postForm(t, "/oauth/token", auth, cc)
	want(t, "client_credentials", r, 200)
	if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Pragma") != "no-cache" {
		t.Errorf("token response: Cache-Control %q, Pragma %q; want no-store, no-cache", r.Header.Get("Cache-Control"), r.Header.Get("Pragma"))
	}
	var raw map[string]any
	if err := json.Unmarshal(r.Body, &raw); err != nil {
		t.Fatal(err)
	}
	if _, has := raw["scope"]; has {
		t.Errorf("scope in a response that was not narrowed: %s", r.Body)
	}
	if r := e.call(t, "GET", "/oauth/token", auth, "", ""); r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "POST" {
		t.Errorf("GET /oauth/token: %s Allow %q, want 405 with Allow: POST", r, r.Header.Get("Allow"))
	}
}

// TestIntrospectAndRevoke: RFC 7662 and RFC 7009 as a client and as a user
// see them.
func TestIntrospectAndRevoke(t *testing.T) {
	forEachBackend(t, "", func(t *testing.T, e *env) {
		alice := e.user(t, "alice", []string{"orders"}, []string{"read", "write"})
		bob := e.user(t, "bob", []string{"orders"}, []string{"read", "write"})
		id, secret := e.createClient(t, alice, "")
		bobID, bobSecret := e.createClient(t, bob, "")
		auth := clientBasic(id, secret)
		tk := e.token(t, auth, url.Values{"grant_type": {"client_credentials"}})
		bobTk := e.token(t, clientBasic(bobID, bobSecret), url.Values{"grant_type": {"client_credentials"}})

		r := e.postForm(t, "/oauth/introspect", auth, url.Values{"token": {tk.AccessToken}})
		want(t, "introspect own token as the client", r, 200)
		m := r.JSON(t)
		if m["active"] != true || m["client_id"] != id || m["username"] != "alice" || m["scope"] != "read write" || m["token_type"] != "Bearer" {
			t.Errorf("introspection: %s", r.Body)
		}
		// The API sets the token is good for are its audiences.
		if aud, _ := m["aud"].([]any); len(aud) != 1 || aud[0] != "orders" {
			t.Errorf("introspection aud = %v, want [orders]", m["aud"])
		}
		exp := integer(t, "exp", m["exp"])
		if d := time.Until(time.Unix(exp, 0)); d < 11*time.Hour || d > 13*time.Hour {
			t.Errorf("exp %d is %v away, want about 12h", exp, d)
		}
		r = e.postForm(t, "/oauth/introspect", alice, url.Values{"token": {tk.RefreshToken}})
		// token_type is an access token type (RFC 7662 §2.2): a refresh
		// token has none.
		if m := r.JSON(t); r.Status != 200 || m["active"] != true || m["token_type"] != nil {
			t.Errorf("introspect refresh token as the user (password): %s, want active without token_type", r)
		}

		inactive := []struct{ name, authorization, token string }{
			{"unknown token", auth, "kga_unknown"},
			{"garbage", auth, "not-a-token"},
			{"another user's token", auth, bobTk.AccessToken},
			{"another user's token, as a user", alice, bobTk.AccessToken},
		}
		for _, c := range inactive {
			r := e.postForm(t, "/oauth/introspect", c.authorization, url.Values{"token": {c.token}})
			if r.Status != 200 || string(r.Body) != "{\"active\":false}\n" {
				t.Errorf("introspect %s: %s, want exactly {\"active\":false}", c.name, r)
			}
		}

		// RFC 7009 §2.2: unknown tokens are answered 200 ({} as JSON,
		// which clients that parse every answer can read).
		for _, tok := range []string{"kga_unknown", "garbage"} {
			r := e.postForm(t, "/oauth/revoke", auth, url.Values{"token": {tok}})
			if r.Status != 200 || string(r.Body) != "{}\n" || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("revoke %s: %s (%q), want 200 application/json {}", tok, r, r.Header.Get("Content-Type"))
			}
		}
		// §2.1: a token issued to another client is refused, and it
		// stays valid; so is one of the same user's other client.
		aliceID2, aliceSecret2 := e.createClient(t, alice, "")
		tk2 := e.token(t, clientBasic(aliceID2, aliceSecret2), url.Values{"grant_type": {"client_credentials"}})
		for _, tok := range []string{bobTk.AccessToken, bobTk.RefreshToken, tk2.AccessToken} {
			wantError(t, "revoke another client's token", e.postForm(t, "/oauth/revoke", auth, url.Values{"token": {tok}}), 400, "unauthorized_client")
		}
		for _, tok := range []string{bobTk.AccessToken, tk2.AccessToken} {
			if r := e.call(t, "GET", "/orders/1", "Bearer "+tok, "", ""); r.Status != 200 {
				t.Errorf("a token after another client tried to revoke it: %s, want 200", r)
			}
		}
		want(t, "revoke own token", e.postForm(t, "/oauth/revoke", auth, url.Values{"token": {tk.AccessToken}}), 200)
		r = e.postForm(t, "/oauth/introspect", auth, url.Values{"token": {tk.AccessToken}})
		if string(r.Body) != "{\"active\":false}\n" {
			t.Errorf("introspect a revoked token: %s", r)
		}
	})
}

// TestClientAuthFailureLimit: past auth.failure_limit, an address that
// keeps failing client authentication gets 429 before any look-up, even
// with the right secret; another address is not affected.
func TestClientAuthFailureLimit(t *testing.T) {
	e := newEnv(t, "embedded", "  failure_limit: {rate: 1, per: 1m, burst: 2}\n")
	alice := e.user(t, "alice", []string{"orders"}, []string{"read", "write"})
	id, secret := e.createClient(t, alice, "")
	cc := url.Values{"grant_type": {"client_credentials"}}
	wrong := clientBasic(id, authz.NewToken(authz.KindKeyToken))
	for i := range 3 {
		wantError(t, fmt.Sprintf("wrong secret %d", i+1), e.postForm(t, "/oauth/token", wrong, cc), 401, "invalid_client")
	}
	r := e.postForm(t, "/oauth/token", clientBasic(id, secret), cc)
	wantError(t, "right secret from a blocked address", r, 429, "too_many_requests")
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
}

// TestChallengeNamesGrantableScope: the 403 challenge of a proxied route
// names in scope= only what a token request can ask for (read, write);
// an API set the token lacks is no OAuth scope (it is the client's
// resourceIds) and is left out of the challenge, since asking for it as a
// scope is refused.
func TestChallengeNamesGrantableScope(t *testing.T) {
	e := newEnv(t, "embedded", "")
	alice := e.user(t, "alice", []string{"orders", "billing"}, []string{"read", "write"})
	id, secret := e.createClient(t, alice, `{"resourceIds": ["orders"]}`)
	auth := clientBasic(id, secret)

	read := e.token(t, auth, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}})
	r := e.call(t, "POST", "/orders/1", "Bearer "+read.AccessToken, "", "")
	if ch := r.Header.Get("WWW-Authenticate"); r.Status != 403 || ch != `Bearer realm="keygate", error="insufficient_scope", scope="write"` {
		t.Errorf("read-only token on POST: %d %q, want 403 naming scope=\"write\"", r.Status, ch)
	}
	// The challenged scope is one the client can get.
	e.token(t, auth, url.Values{"grant_type": {"client_credentials"}, "scope": {"write"}})

	full := e.token(t, auth, url.Values{"grant_type": {"client_credentials"}})
	r = e.call(t, "GET", "/billing/1", "Bearer "+full.AccessToken, "", "")
	if ch := r.Header.Get("WWW-Authenticate"); r.Status != 403 || ch != `Bearer realm="keygate", error="insufficient_scope"` {
		t.Errorf("orders token on the billing route: %d %q, want 403 without a scope attribute", r.Status, ch)
	}
	wantError(t, "asking for an API set as a scope", e.postForm(t, "/oauth/token", auth, url.Values{"grant_type": {"client_credentials"}, "scope": {"billing"}}), 400, "invalid_scope")
}
