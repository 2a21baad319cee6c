package account

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
	"go.uber.org/zap"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/testkit/oidctest"
)

// oidcEnv starts a provider and serves the pages with account.oidc on it;
// more is YAML for account.oidc, indented by four spaces.
func oidcEnv(t *testing.T, more string) (*oidctest.IdP, *env) {
	t.Helper()
	p := oidctest.Start(t)
	return p, newEnv(t, fmt.Sprintf(`
account:
  enabled: true
  session_idle_timeout: 10m
  session_absolute_timeout: 1h
  oidc:
    name: Acme SSO
    issuer: %s
    client_id: %s
    client_secret: %s
%s`, p.Issuer(), p.ClientID, p.ClientSecret, more))
}

func person(email string, verified bool, groups ...string) *mockoidc.MockUser {
	return &mockoidc.MockUser{Subject: "sub-" + email, Email: email, EmailVerified: verified, PreferredUsername: strings.Split(email, "@")[0], Groups: groups}
}

// toProvider opens Sign in with Acme SSO and returns where it sends the
// browser.
func (b *browser) toProvider() string {
	b.t.Helper()
	p := b.get("/account/oidc/start")
	if p.status != http.StatusSeeOther {
		b.t.Fatalf("oidc/start: %d %s", p.status, p.body)
	}
	return p.header.Get("Location")
}

// back sends the browser to the callback URL the provider gave.
func (b *browser) back(u *url.URL) page {
	b.t.Helper()
	if got := b.e.srv.URL; "http://"+u.Host != got {
		b.t.Fatalf("the provider sends the browser to %s, want %s", u, got)
	}
	return b.get(u.RequestURI())
}

// oidcSignIn signs in with the provider as a browser does, following every
// redirect with the cookie jar, and returns the last page.
func (b *browser) oidcSignIn() page {
	b.t.Helper()
	c := &http.Client{Jar: b.c.Jar}
	resp, err := c.Get(b.e.srv.URL + "/account/oidc/start")
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, resp.Header, string(raw)}
}

// signedOut checks that the browser has no session.
func (b *browser) signedOut(what string) {
	b.t.Helper()
	if p := b.get("/account/profile"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/account/signin" {
		b.t.Errorf("%s: the profile answers %d %s, want a redirect to sign-in", what, p.status, p.header.Get("Location"))
	}
}

func (b *browser) sessionID() string {
	u, _ := url.Parse(b.e.srv.URL + "/account/")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	return ""
}

func TestOIDCSignIn(t *testing.T) {
	p, e := oidcEnv(t, "")
	e.user(t, "jane@example.com", []string{"orders"})
	b := e.browser(t)

	signin := b.get("/account/signin")
	if !strings.Contains(signin.body, `href="/account/oidc/start"`) || !strings.Contains(signin.body, "Sign in with Acme SSO") || !strings.Contains(signin.body, `id="password"`) {
		t.Fatalf("the sign-in page does not offer Acme SSO beside the password form:\n%s", signin.body)
	}

	// The way to the provider: PKCE S256, state, nonce, and a flow cookie
	// that goes along with the provider's cross-site redirect back.
	start := b.get("/account/oidc/start")
	to, _ := url.Parse(start.header.Get("Location"))
	q := to.Query()
	if to.Host != strings.TrimPrefix(p.Addr(), "http://") || q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 ||
		len(q.Get("state")) != 43 || len(q.Get("nonce")) != 43 || q.Get("client_id") != p.ClientID || q.Get("redirect_uri") != e.srv.URL+"/account/oidc/callback" {
		t.Fatalf("oidc/start sends the browser to %s", to)
	}
	if sc := start.header.Get("Set-Cookie"); !strings.HasPrefix(sc, oidcCookie+"=") || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Lax") || !strings.Contains(sc, "Path=/account") {
		t.Errorf("flow cookie %q", sc)
	}

	// A password session first: signing in with the provider replaces it.
	b.signIn("jane@example.com")
	before := b.sessionID()
	p.User(person("Jane@Example.com", true))
	done := b.oidcSignIn()
	if done.status != http.StatusOK || !strings.Contains(done.body, `content="0; url=/account/profile"`) || !strings.Contains(done.body, `href="/account/profile"`) {
		t.Fatalf("after the provider: %d\n%s", done.status, done.body)
	}
	after := b.sessionID()
	if after == "" || after == before {
		t.Fatalf("session id before %q, after %q: want a new one", before, after)
	}
	prof := b.get("/account/profile")
	if prof.status != http.StatusOK || !strings.Contains(prof.body, "jane@example.com") {
		t.Fatalf("profile after sign-in with the provider: %d", prof.status)
	}
	old := e.browser(t)
	old.c.Jar.SetCookies(mustURL(e.srv.URL+"/account/"), []*http.Cookie{{Name: sessionCookie, Value: before}})
	old.signedOut("the password session's cookie after the provider's sign-in")

	// The session is a password session's: it ends when idle.
	e.clock.Add(11 * time.Minute)
	b.signedOut("11 minutes idle")

	// ... and when the user is disabled.
	p.User(person("jane@example.com", true))
	if done := b.oidcSignIn(); done.status != http.StatusOK {
		t.Fatalf("sign in again: %d", done.status)
	}
	if p := b.get("/account/profile"); p.status != http.StatusOK {
		t.Fatalf("profile: %d", p.status)
	}
	if _, err := e.svc.Accounts.UpdateUser(t.Context(), "jane@example.com", func(u *authz.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	b.signedOut("user disabled")
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// TestOIDCRefused: every sign-in that must not happen gets a page that
// says why (and nothing more), and no session.
func TestOIDCRefused(t *testing.T) {
	p, e := oidcEnv(t, "")
	e.user(t, "jane@example.com", []string{"orders"})
	e.user(t, "dora@example.com", []string{"orders"})
	if _, err := e.svc.Accounts.UpdateUser(t.Context(), "dora@example.com", func(u *authz.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	const (
		again      = "This sign-in has expired or was not started in this browser."
		unverified = "could not be verified"
	)
	cases := []struct {
		name   string
		who    *mockoidc.MockUser
		bend   func()                            // the provider's misbehaviour
		back   func(b *browser, u *url.URL) page // how the browser comes back
		status int
		says   string
		// kept: the refusal did not use up the browser's own flow (it
		// was another browser's request), which still completes.
		kept bool
	}{
		{name: "another state", back: func(b *browser, u *url.URL) page {
			q := u.Query()
			q.Set("state", newToken())
			u.RawQuery = q.Encode()
			return b.back(u)
		}, status: 400, says: again},
		{name: "no state", back: func(b *browser, u *url.URL) page {
			q := u.Query()
			q.Del("state")
			u.RawQuery = q.Encode()
			return b.back(u)
		}, status: 400, says: again},
		{name: "another browser (no flow cookie)", back: func(b *browser, u *url.URL) page {
			return b.e.browser(b.t).back(u)
		}, status: 400, says: again, kept: true},
		{name: "the provider refused", back: func(b *browser, u *url.URL) page {
			q := u.Query()
			q.Del("code")
			q.Set("error", "access_denied")
			u.RawQuery = q.Encode()
			return b.back(u)
		}, status: 403, says: "Acme SSO did not sign you in (access_denied)."},
		{name: "another nonce", bend: func() { p.WrongNonce(newToken()) }, status: 403, says: unverified},
		{name: "another audience", bend: func() { p.Rewrite(func(c jwt.MapClaims) { c["aud"] = []string{"another-client"} }) }, status: 403, says: unverified},
		{name: "another issuer", bend: func() { p.Rewrite(func(c jwt.MapClaims) { c["iss"] = "http://127.0.0.2/oidc" }) }, status: 403, says: unverified},
		{name: "expired", bend: func() {
			p.Rewrite(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })
		}, status: 403, says: unverified},
		{name: "unverified email", who: person("jane@example.com", false), status: 403, says: "Your email address is not verified at Acme SSO"},
		{name: "email_verified false as a string", who: person("jane@example.com", true), bend: func() {
			p.Rewrite(func(c jwt.MapClaims) { c["email_verified"] = "false" })
		}, status: 403, says: "not verified"},
		{name: "unknown user without provision", who: person("nobody@example.com", true), status: 403, says: "nobody@example.com has no keygate account that can sign in here."},
		{name: "disabled user", who: person("dora@example.com", true), status: 403, says: "dora@example.com has no keygate account that can sign in here."},
		{name: "no email", who: &mockoidc.MockUser{Subject: "x"}, status: 403, says: "Acme SSO did not tell keygate your email address."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer p.WrongNonce("")
			defer p.Rewrite(nil)
			if c.bend != nil {
				c.bend()
			}
			who := c.who
			if who == nil {
				who = person("jane@example.com", true)
			}
			p.User(who)
			b := e.browser(t)
			cb := p.Callback(t, b.toProvider())
			var got page
			if c.back != nil {
				got = c.back(b, cb)
			} else {
				got = b.back(cb)
			}
			if got.status != c.status || !strings.Contains(got.body, c.says) {
				t.Errorf("%d, want %d saying %q:\n%s", got.status, c.status, c.says, got.body)
			}
			if b.sessionID() != "" {
				t.Errorf("a session cookie was set")
			}
			b.signedOut("after the refusal")
			// The flow is used up whatever happened: its answer again is
			// refused.
			want := http.StatusBadRequest
			if c.kept {
				want = http.StatusOK
			}
			if again := b.back(cb); again.status != want {
				t.Errorf("the same answer again in this browser: %d, want %d", again.status, want)
			}
		})
	}
	if _, err := e.svc.Accounts.GetUser(t.Context(), "nobody@example.com"); err == nil {
		t.Errorf("a user was made without provision")
	}

	// A good sign-in works, once.
	b := e.browser(t)
	p.User(person("jane@example.com", true))
	cb := p.Callback(t, b.toProvider())
	if got := b.back(cb); got.status != http.StatusOK {
		t.Fatalf("good sign-in: %d %s", got.status, got.body)
	}
	if got := b.back(cb); got.status != http.StatusBadRequest {
		t.Errorf("the provider's answer used twice: %d, want 400", got.status)
	}
}

func TestOIDCProvision(t *testing.T) {
	p, e := oidcEnv(t, `    scopes: [openid, email, profile, groups]
    provision: true
    claims:
      api_sets: {claim: groups, values: {engineering: [orders], finance: [billing, orders]}}
      authorities: {claim: groups, values: {key-makers: [MANAGE_USER_API_KEY], keygate-admins: [ADMIN]}}`)
	// What the token says beyond the mapped claim grants nothing.
	p.Rewrite(func(c jwt.MapClaims) {
		c["api_sets"] = []string{"billing", "secrets"}
		c["authorities"] = []string{"ADMIN"}
	})
	b := e.browser(t)
	p.User(person("New.Person@Example.com", true, "engineering", "key-makers", "strangers"))
	if done := b.oidcSignIn(); done.status != http.StatusOK {
		t.Fatalf("first sign-in: %d %s", done.status, done.body)
	}
	u, err := e.svc.Accounts.GetUser(t.Context(), "new.person@example.com")
	if err != nil {
		t.Fatalf("the user was not made: %v", err)
	}
	if !slices.Equal(u.APISets, []string{"orders"}) || !slices.Equal(u.Authorities, []string{"MANAGE_USER_API_KEY"}) || !slices.Equal(u.Scopes, []string{"read", "write"}) {
		t.Errorf("provisioned user: api sets %v, authorities %v, scopes %v; want [orders], [MANAGE_USER_API_KEY], [read write]", u.APISets, u.Authorities, u.Scopes)
	}
	// One audit line, create_user, whose actor is the person signing in.
	made := e.logs.FilterField(zap.String("audit", "create_user")).FilterField(zap.String("target", "new.person@example.com")).All()
	if len(made) != 1 {
		t.Errorf("%d create_user audit lines for the provisioned user, want 1", len(made))
	} else if f := made[0].ContextMap(); f["actor"] != "new.person@example.com" || f["actor_auth"] != "oidc" || f["via"] != "account" {
		t.Errorf("create_user audit line: actor %v, actor_auth %v, via %v; want the person, oidc, account", f["actor"], f["actor_auth"], f["via"])
	}
	prof := b.get("/account/profile")
	if prof.status != http.StatusOK || !strings.Contains(prof.body, `id="generate-key"`) {
		t.Errorf("profile of the provisioned user: %d, Generate key shown: %v", prof.status, strings.Contains(prof.body, `id="generate-key"`))
	}
	// A later sign-in finds the user; it is not made again.
	p.User(person("new.person@example.com", true, "finance"))
	if done := e.browser(t).oidcSignIn(); done.status != http.StatusOK {
		t.Fatalf("second sign-in: %d", done.status)
	}
	if u2, _ := e.svc.Accounts.GetUser(t.Context(), "new.person@example.com"); !u2.Created.Equal(u.Created) || !slices.Equal(u2.APISets, u.APISets) {
		t.Errorf("the second sign-in changed the user: %+v", u2)
	}
	// No group the config maps: a user with nothing.
	p.User(person("plain@example.com", true, "strangers"))
	if done := e.browser(t).oidcSignIn(); done.status != http.StatusOK {
		t.Fatalf("plain sign-in: %d", done.status)
	}
	if u, err := e.svc.Accounts.GetUser(t.Context(), "plain@example.com"); err != nil || len(u.APISets) != 0 || len(u.Authorities) != 0 {
		t.Errorf("plain user: %+v %v, want no API set and no authority", u, err)
	}
	// A disabled provisioned user stays out.
	if _, err := e.svc.Accounts.UpdateUser(t.Context(), "plain@example.com", func(u *authz.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	p.User(person("plain@example.com", true, "strangers"))
	if done := e.browser(t).oidcSignIn(); done.status != http.StatusForbidden {
		t.Errorf("disabled provisioned user: %d, want 403", done.status)
	}
}

func TestOIDCOnly(t *testing.T) {
	p, e := oidcEnv(t, "    only: true")
	e.user(t, "jane@example.com", []string{"orders"})
	b := e.browser(t)
	signin := b.get("/account/signin")
	if !strings.Contains(signin.body, `id="oidc-signin"`) || strings.Contains(signin.body, `id="password"`) || strings.Contains(signin.body, `action="/account/signin"`) {
		t.Errorf("with only: the sign-in page must offer the provider and no password form:\n%s", signin.body)
	}
	// A password posted anyway is refused, right or not.
	got := b.post("/account/signin", url.Values{"username": {"jane@example.com"}, "password": {"pw-jane@example.com-secret"}})
	if got.status != http.StatusForbidden || !strings.Contains(got.body, "Passwords are not used here: sign in with Acme SSO.") {
		t.Errorf("password with only: %d %s", got.status, got.body)
	}
	b.signedOut("password refused")
	p.User(person("jane@example.com", true))
	if done := b.oidcSignIn(); done.status != http.StatusOK {
		t.Fatalf("sign in with the provider: %d", done.status)
	}
	prof := b.get("/account/profile")
	if prof.status != http.StatusOK {
		t.Errorf("profile: %d", prof.status)
	}
	// No Change password page either.
	if strings.Contains(prof.body, `href="/account/password"`) {
		t.Errorf("with only: the pages link to Change password")
	}
	if got := b.get("/account/password"); got.status != http.StatusNotFound {
		t.Errorf("with only: Change password answers %d, want 404", got.status)
	}
}

func TestOIDCProviderDown(t *testing.T) {
	t.Run("at the start", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		e := newEnv(t, fmt.Sprintf("account: {enabled: true, oidc: {name: Acme SSO, issuer: http://%s/oidc, client_id: keygate}}", addr))
		b := e.browser(t)
		got := b.get("/account/oidc/start")
		if got.status != http.StatusServiceUnavailable || got.header.Get("Retry-After") == "" ||
			!strings.Contains(got.body, "Acme SSO cannot be reached right now.") || !strings.Contains(got.body, `id="password"`) {
			t.Errorf("provider down: %d Retry-After %q\n%s", got.status, got.header.Get("Retry-After"), got.body)
		}
		if s := b.get("/account/signin"); s.status != http.StatusOK {
			t.Errorf("sign-in page with the provider down: %d", s.status)
		}
	})
	t.Run("comes back", func(t *testing.T) {
		p, e := oidcEnv(t, "")
		e.user(t, "jane@example.com", nil)
		b := e.browser(t)
		p.Down(true)
		if got := b.get("/account/oidc/start"); got.status != http.StatusServiceUnavailable {
			t.Fatalf("provider answering 503: %d, want 503", got.status)
		}
		// Within discoveryRetry the provider is not asked again.
		p.Down(false)
		if got := b.get("/account/oidc/start"); got.status != http.StatusServiceUnavailable {
			t.Errorf("right after a failure: %d, want 503 without asking", got.status)
		}
		e.h.oidc.mu.Lock()
		e.h.oidc.failed = e.h.oidc.failed.Add(-discoveryRetry)
		e.h.oidc.mu.Unlock()
		p.User(person("jane@example.com", true))
		if done := b.oidcSignIn(); done.status != http.StatusOK {
			t.Errorf("the provider back: %d %s", done.status, done.body)
		}
	})
	t.Run("at the token exchange", func(t *testing.T) {
		p, e := oidcEnv(t, "")
		e.user(t, "jane@example.com", nil)
		b := e.browser(t)
		p.User(person("jane@example.com", true))
		cb := p.Callback(t, b.toProvider())
		if err := p.Shutdown(); err != nil {
			t.Fatal(err)
		}
		got := b.back(cb)
		if got.status != http.StatusServiceUnavailable || !strings.Contains(got.body, "Acme SSO cannot be reached right now.") {
			t.Errorf("provider down at the exchange: %d\n%s", got.status, got.body)
		}
		b.signedOut("provider down")
	})
}

// TestOIDCOverTLS: over TLS (here account.secure_cookie) the flow cookie
// is __Host-keygate_oidc: Secure, Path=/, no Domain; and the redirect URL
// derived from the request is https.
func TestOIDCOverTLS(t *testing.T) {
	_, e := oidcEnv(t, "")
	e.h.alwaysSecure = true
	got := e.browser(t).get("/account/oidc/start")
	sc := got.header.Get("Set-Cookie")
	if !strings.HasPrefix(sc, oidcCookieHost+"=") || !strings.Contains(sc, "; Path=/;") || !strings.Contains(sc, "Secure") ||
		!strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Lax") || strings.Contains(sc, "Domain") {
		t.Errorf("flow cookie over TLS: %q", sc)
	}
	to, _ := url.Parse(got.header.Get("Location"))
	if r := to.Query().Get("redirect_uri"); r != "https://"+strings.TrimPrefix(e.srv.URL, "http://")+"/account/oidc/callback" {
		t.Errorf("redirect_uri over TLS: %s", r)
	}
}

// TestOIDCPreferredUsername: match_claim preferred_username takes the
// claim as it is, verified email or not.
func TestOIDCPreferredUsername(t *testing.T) {
	p, e := oidcEnv(t, "    match_claim: preferred_username")
	e.user(t, "jane", []string{"orders"})
	b := e.browser(t)
	p.User(&mockoidc.MockUser{Subject: "s1", Email: "someone@example.com", PreferredUsername: "jane"})
	if done := b.oidcSignIn(); done.status != http.StatusOK {
		t.Fatalf("sign in: %d %s", done.status, done.body)
	}
	if prof := b.get("/account/profile"); prof.status != http.StatusOK || !strings.Contains(prof.body, `<span class="who">jane</span>`) {
		t.Errorf("profile: %d", prof.status)
	}
	p.User(&mockoidc.MockUser{Subject: "s2", PreferredUsername: "Jane"})
	if done := e.browser(t).oidcSignIn(); done.status != http.StatusForbidden {
		t.Errorf("another case of the name: %d, want 403", done.status)
	}
}

// TestOIDCStartsPerAddress: /oidc/start stores a record for every start
// and needs no credential, so one address may start only
// max_starts_per_address sign-ins in a window of the flow's lifetime; past
// it a 429 with Retry-After, no flow cookie and no record; the next window
// starts again; a store that cannot count answers 503.
func TestOIDCStartsPerAddress(t *testing.T) {
	_, e := oidcEnv(t, "    max_starts_per_address: 3\n")
	e.clock.Add(-time.Duration(e.clock.Now().Unix()%int64(oidcFlowTTL/time.Second)) * time.Second) // the start of a window
	for i := range 3 {
		if got := e.browser(t).get("/account/oidc/start"); got.status != http.StatusSeeOther {
			t.Fatalf("start %d: %d, want 303", i+1, got.status)
		}
	}
	e.clock.Add(4 * time.Minute)
	got := e.browser(t).get("/account/oidc/start")
	if got.status != http.StatusTooManyRequests || got.header.Get("Retry-After") != "360" ||
		!strings.Contains(got.body, "Too many sign-ins were started from your address.") {
		t.Errorf("fourth start: %d Retry-After %q, want 429 and 360\n%s", got.status, got.header.Get("Retry-After"), got.body)
	}
	if c := got.header.Values("Set-Cookie"); slices.ContainsFunc(c, func(s string) bool { return strings.Contains(s, "oidc") }) {
		t.Errorf("a refused start set the flow cookie: %q", c)
	}
	if n, err := e.h.sessions.Incr(t.Context(), "account-oidc-starts/127.0.0.1/"+fmt.Sprint(e.clock.Now().Unix()/int64(oidcFlowTTL/time.Second)), 0, 0); err != nil || n != 4 {
		t.Errorf("counted starts: %d, %v; want 4", n, err)
	}
	e.clock.Add(6 * time.Minute)
	if got := e.browser(t).get("/account/oidc/start"); got.status != http.StatusSeeOther {
		t.Errorf("a start in the next window: %d, want 303", got.status)
	}
	e.closeStore()
	if got := e.browser(t).get("/account/oidc/start"); got.status != http.StatusServiceUnavailable || got.header.Get("Retry-After") == "" {
		t.Errorf("store closed: %d Retry-After %q, want 503 with Retry-After", got.status, got.header.Get("Retry-After"))
	}
}
