package account

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/redistest"
)

func TestSecurityHeadersOnEveryPage(t *testing.T) {
	e := newEnv(t, "")
	e.user(t, "alice", []string{"orders"}, authz.AuthorityManageUserAPIKey)
	b := e.browser(t)
	check := func(name string, p page) {
		t.Helper()
		want := map[string]string{
			"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
			"X-Frame-Options":         "DENY",
		}
		for k, v := range want {
			if got := p.header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", name, k, got, v)
			}
		}
		if strings.Contains(p.header.Get("Content-Security-Policy"), "unsafe-inline") {
			t.Errorf("%s: CSP allows inline code", name)
		}
	}
	signin := b.get("/account/signin")
	check("sign-in page", signin)
	if signin.header.Get("Cache-Control") != "no-store" {
		t.Errorf("sign-in page: Cache-Control %q, want no-store", signin.header.Get("Cache-Control"))
	}
	b.signIn("alice")
	for _, path := range []string{"/account/profile", "/account/keys/new", "/account/apikey", "/account/nope"} {
		p := b.get(path)
		check(path, p)
		if p.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", path, p.header.Get("Cache-Control"))
		}
		if strings.Contains(p.body, "<script>") || strings.Contains(p.body, " style=") || strings.Contains(p.body, " onclick=") {
			t.Errorf("%s: inline script or style in the page", path)
		}
	}
	saved := b.post("/account/keys", url.Values{"handle": {"k1"}, "apiSets": {"orders"}})
	check("Save generated key", saved)
	if saved.status != http.StatusCreated || saved.header.Get("Cache-Control") != "no-store" || !strings.Contains(saved.body, "kgl_") {
		t.Errorf("Save generated key: %d, Cache-Control %q; want 201, no-store and the token", saved.status, saved.header.Get("Cache-Control"))
	}
	for _, f := range []string{"account.css", "account.js"} {
		p := b.get("/account/static/" + f)
		check(f, p)
		if p.status != 200 || len(p.body) < 100 {
			t.Errorf("%s: %d, %d bytes", f, p.status, len(p.body))
		}
	}
}

func TestSignInAndCookie(t *testing.T) {
	e := newEnv(t, "trusted_proxies: [127.0.0.1/32]")
	e.user(t, "alice", []string{"orders"})
	b := e.browser(t)
	if p := b.get("/account/profile"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/account/signin" {
		t.Fatalf("profile signed out: %d %s, want 303 to sign-in", p.status, p.header.Get("Location"))
	}
	b.get("/account/signin")
	p := b.post("/account/signin", url.Values{"username": {"alice"}, "password": {"wrong-password"}})
	if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "The user name or password is not right.") {
		t.Errorf("wrong password: %d, want 401 and the message", p.status)
	}
	if p.header.Get("Set-Cookie") != "" && strings.Contains(p.header.Get("Set-Cookie"), sessionCookie) {
		t.Errorf("wrong password set a session cookie")
	}
	// Without the sign-in form's token (a login CSRF), nothing happens.
	p = b.do("POST", "/account/signin", url.Values{"username": {"alice"}, "password": {"pw-alice-secret"}, "csrf": {"forged"}})
	if p.status != http.StatusForbidden {
		t.Errorf("sign-in with a forged token: %d, want 403", p.status)
	}
	b.get("/account/signin")
	p = b.post("/account/signin", url.Values{"username": {"alice"}, "password": {"pw-alice-secret"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("sign in: %d %s", p.status, p.body)
	}
	var session *http.Cookie
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		if c.Name == sessionCookie {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/account" || session.Secure {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/account, not Secure over plain HTTP", session)
	}
	// Behind a trusted proxy that terminated TLS, the cookie is Secure.
	req, _ := http.NewRequest("GET", e.srv.URL+"/account/signin", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cs := resp.Cookies(); len(cs) != 1 || !cs[0].Secure {
		t.Errorf("X-Forwarded-Proto https from a trusted proxy: cookies %+v, want one Secure", cs)
	}
	if p := b.get("/account/profile"); p.status != 200 || !strings.Contains(p.body, "alice") {
		t.Errorf("profile signed in: %d", p.status)
	}
}

func TestSecureCookieAlways(t *testing.T) {
	e := newEnv(t, "")
	e.h.alwaysSecure = true
	resp, err := http.Get(e.srv.URL + "/account/signin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cs := resp.Cookies(); len(cs) != 1 || !cs[0].Secure {
		t.Errorf("account.secure_cookie: cookies %+v, want Secure", cs)
	}
	// Not behind a trusted proxy, X-Forwarded-Proto is not believed.
	e.h.alwaysSecure = false
	req, _ := http.NewRequest("GET", e.srv.URL+"/account/signin", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cs := resp.Cookies(); len(cs) != 1 || cs[0].Secure {
		t.Errorf("X-Forwarded-Proto from an untrusted peer: cookies %+v, want not Secure", cs)
	}
}

func TestSignInLimitedLikeTheAPI(t *testing.T) {
	e := newEnv(t, "self_service: {max_password_failures_per_user: 2}")
	e.user(t, "alice", []string{"orders"})
	b := e.browser(t)
	for range 2 {
		b.get("/account/signin")
		b.post("/account/signin", url.Values{"username": {"alice"}, "password": {"wrong-password"}})
	}
	b.get("/account/signin")
	p := b.post("/account/signin", url.Values{"username": {"alice"}, "password": {"pw-alice-secret"}})
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") != "900" {
		t.Errorf("right password past the limit: %d Retry-After %q, want 429 and 900", p.status, p.header.Get("Retry-After"))
	}
}

func TestCSRFRefused(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(t, "alice", []string{"orders"}, authz.AuthorityManageUserAPIKey)
	for _, tc := range []struct {
		name string
		form url.Values
	}{
		{"no token", url.Values{"handle": {"k1"}}},
		{"wrong token", url.Values{"handle": {"k1"}, "csrf": {newToken()}}},
	} {
		p := b.do("POST", "/account/keys", tc.form)
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "This form has expired") {
			t.Errorf("%s: %d, want 403", tc.name, p.status)
		}
	}
	if p := b.do("POST", "/account/apikey/token", url.Values{}); p.status != http.StatusForbidden {
		t.Errorf("Generate Token without a token: %d, want 403", p.status)
	}
	if p := b.do("POST", "/account/signout", url.Values{}); p.status != http.StatusForbidden {
		t.Errorf("sign out without a token: %d, want 403", p.status)
	}
	if _, err := e.svc.Accounts.KeyByHandle(t.Context(), "alice", "k1"); err == nil {
		t.Errorf("a refused form created the key")
	}
	// Another session's token is not this one's.
	other := e.browser(t)
	other.signIn("alice")
	if p := b.do("POST", "/account/keys", url.Values{"handle": {"k1"}, "csrf": {other.csrf}}); p.status != http.StatusForbidden {
		t.Errorf("another session's token: %d, want 403", p.status)
	}
	if p := b.post("/account/keys", url.Values{"handle": {"k1"}, "apiSets": {"orders"}}); p.status != http.StatusCreated {
		t.Errorf("with the token: %d, want 201", p.status)
	}
}

func TestGenerateKeyNeedsAuthority(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(t, "bob", []string{"orders"})
	p := b.get("/account/profile")
	if strings.Contains(p.body, "Generate key") || strings.Contains(p.body, "/account/keys/new") {
		t.Errorf("profile without MANAGE_USER_API_KEY shows the Generate key button")
	}
	if p := b.get("/account/keys/new"); p.status != http.StatusForbidden {
		t.Errorf("New API Key window without the authority: %d, want 403", p.status)
	}
	if p := b.post("/account/keys", url.Values{"handle": {"sneaky"}}); p.status != http.StatusForbidden || !strings.Contains(p.body, "MANAGE_USER_API_KEY") {
		t.Errorf("posting a key without the authority: %d, want 403", p.status)
	}
	if _, err := e.svc.Accounts.KeyByHandle(t.Context(), "bob", "sneaky"); err == nil {
		t.Errorf("the refused post created a key")
	}
	// ADMIN holds every authority (authz.User.Has), as on the API.
	a := e.signedIn(t, "root", []string{"orders"}, authz.AuthorityAdmin)
	if p := a.get("/account/profile"); !strings.Contains(p.body, `id="generate-key"`) {
		t.Errorf("ADMIN does not see Generate key")
	}
}

func TestMarkupIsEscaped(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(t, "alice", []string{"orders"}, authz.AuthorityManageUserAPIKey)
	evil := `<script>alert("x")</script><img src=x onerror=alert(1)>`
	p := b.post("/account/keys", url.Values{"handle": {"k1"}, "description": {evil}, "apiSets": {"orders"}})
	if p.status != http.StatusCreated {
		t.Fatalf("create: %d", p.status)
	}
	b.post("/account/clients", url.Values{"description": {evil}})
	// A handle with markup is refused by authz, and the form shows it back
	// escaped.
	bad := b.post("/account/keys", url.Values{"handle": {`"><b>x</b>`}, "apiSets": {"orders"}})
	if bad.status != http.StatusBadRequest || !strings.Contains(bad.body, "handle: required") {
		t.Errorf("bad handle: %d, want 400 naming the field", bad.status)
	}
	for name, body := range map[string]string{"Save window": p.body, "profile": b.get("/account/profile").body, "bad handle form": bad.body} {
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") || strings.Contains(body, "<b>x</b>") {
			t.Errorf("%s: markup not escaped", name)
		}
	}
	if !strings.Contains(b.get("/account/profile").body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Errorf("profile does not show the description as text")
	}
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t, "") // idle 10m, absolute 1h
	e.user(t, "alice", []string{"orders"})
	signedOut := func(b *browser) bool {
		p := b.get("/account/profile")
		return p.status == http.StatusSeeOther && p.header.Get("Location") == "/account/signin"
	}
	t.Run("idle", func(t *testing.T) {
		b := e.browser(t)
		b.signIn("alice")
		e.clock.Add(9 * time.Minute)
		if signedOut(b) {
			t.Fatalf("signed out after 9m idle (idle timeout 10m)")
		}
		e.clock.Add(9 * time.Minute) // used 9m ago: still in
		if signedOut(b) {
			t.Fatalf("signed out 9m after the last use")
		}
		e.clock.Add(10 * time.Minute)
		if !signedOut(b) {
			t.Errorf("still signed in after 10m idle")
		}
	})
	t.Run("absolute", func(t *testing.T) {
		b := e.browser(t)
		b.signIn("alice")
		for range 6 {
			e.clock.Add(9 * time.Minute)
			if signedOut(b) {
				t.Fatalf("signed out while in use before the absolute timeout")
			}
		}
		e.clock.Add(7 * time.Minute) // 61m after sign-in, used 7m ago
		if !signedOut(b) {
			t.Errorf("still signed in 61m after sign-in (absolute timeout 1h)")
		}
	})
	t.Run("sign out", func(t *testing.T) {
		b := e.browser(t)
		b.signIn("alice")
		u, _ := url.Parse(e.srv.URL + "/account")
		saved := b.c.Jar.Cookies(u)
		p := b.post("/account/signout", nil)
		if p.status != http.StatusSeeOther {
			t.Fatalf("sign out: %d", p.status)
		}
		// The old cookie, replayed, is worth nothing: the record is gone.
		b.c.Jar.SetCookies(u, saved)
		if !signedOut(b) {
			t.Errorf("the cookie still works after sign-out")
		}
	})
	t.Run("disabled user", func(t *testing.T) {
		b := e.browser(t)
		b.signIn("alice")
		if _, err := e.svc.Accounts.UpdateUser(t.Context(), "alice", func(u *authz.User) error { u.Disabled = true; return nil }); err != nil {
			t.Fatal(err)
		}
		if !signedOut(b) {
			t.Errorf("a disabled user's session still works")
		}
	})
}

// TestSessionsSharedThroughRedis: sessions are store records, so with
// Redis a browser signed in on one replica is signed in on every one, and
// signing out on one ends it everywhere.
func TestSessionsSharedThroughRedis(t *testing.T) {
	storeYAML := fmt.Sprintf("store: {driver: redis, redis: {addrs: [%q], key_prefix: %q}}", redistest.Addr(t), redistest.Prefix(t))
	a, b := startEnv(t, storeYAML, ""), startEnv(t, storeYAML, "")
	a.user(t, "alice", []string{"orders"})
	br := a.browser(t)
	br.signIn("alice")
	// The same browser now talks to the other replica (cookies are per
	// host, not port: the jar sends the session cookie there too).
	u, _ := url.Parse(a.srv.URL + "/account")
	saved := br.c.Jar.Cookies(u)
	br.e = b
	if p := br.get("/account/profile"); p.status != 200 || !strings.Contains(p.body, "alice") {
		t.Fatalf("profile on the other replica: %d, want 200", p.status)
	}
	if p := br.post("/account/signout", nil); p.status != http.StatusSeeOther {
		t.Fatalf("sign out on the other replica: %d", p.status)
	}
	br.c.Jar.SetCookies(u, saved) // the cookie, kept by someone
	br.e = a
	if p := br.get("/account/profile"); p.status != http.StatusSeeOther {
		t.Errorf("profile on the first replica after signing out on the other: %d, want 303 to sign-in", p.status)
	}
}
