package account

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keygate/keygate/api/admin"
	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/internal/testkit"
)

// adminToken is the bootstrap admin token of the admin API in these tests.
const adminToken = "an-admin-bootstrap-token-of-32-bytes-at-least"

// adminCall sends a JSON request to an admin API on e's credential service
// with the bootstrap token and returns the status.
func adminCall(t *testing.T, admin *httptest.Server, method, path, body string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, admin.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// TestSessionEndsWhenCredentialsChange: a session of the account pages
// ends when the user's password is set (by the admin API or by the
// function `keygate users password` calls) or the user is disabled, and
// stays ended when the user is enabled again (OWASP ASVS 3.3); another
// user's change leaves it alone. On both stores, the admin API over HTTP.
func TestSessionEndsWhenCredentialsChange(t *testing.T) {
	stores := map[string]func(t *testing.T) string{
		"embedded": func(t *testing.T) string {
			return fmt.Sprintf("store: {driver: embedded, embedded: {path: %q}}", filepath.Join(t.TempDir(), "keygate.db"))
		},
		"redis": func(t *testing.T) string {
			return fmt.Sprintf("store: {driver: redis, redis: {addrs: [%q], key_prefix: %q}}", redistest.Addr(t), redistest.Prefix(t))
		},
	}
	cases := []struct {
		name   string
		change func(t *testing.T, e *env, admin *httptest.Server)
		ends   bool
	}{
		{"password set by the admin API", func(t *testing.T, e *env, admin *httptest.Server) {
			adminCall(t, admin, "PUT", "/admin/users/alice/password", `{"password": "a-new-password-for-alice"}`)
		}, true},
		{"password set as keygate users password does", func(t *testing.T, e *env, _ *httptest.Server) {
			if err := e.svc.Passwords.SetPassword(t.Context(), "alice", "a-new-password-for-alice"); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"disabled by the admin API", func(t *testing.T, e *env, admin *httptest.Server) {
			adminCall(t, admin, "PATCH", "/admin/users/alice", `{"disabled": true}`)
		}, true},
		{"disabled, then enabled again before the session is used", func(t *testing.T, e *env, admin *httptest.Server) {
			adminCall(t, admin, "PATCH", "/admin/users/alice", `{"disabled": true}`)
			adminCall(t, admin, "PATCH", "/admin/users/alice", `{"disabled": false}`)
		}, true},
		{"another user's password set", func(t *testing.T, e *env, admin *httptest.Server) {
			adminCall(t, admin, "PUT", "/admin/users/bob/password", `{"password": "a-new-password-for-bob"}`)
		}, false},
		{"API sets changed", func(t *testing.T, e *env, admin *httptest.Server) {
			adminCall(t, admin, "PATCH", "/admin/users/alice", `{"apiSets": ["orders", "billing"]}`)
		}, false},
	}
	for storeName, storeYAML := range stores {
		t.Run(storeName, func(t *testing.T) {
			t.Parallel()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					e := startEnv(t, storeYAML(t), "")
					e.user(t, "alice", []string{"orders"})
					e.user(t, "bob", []string{"orders"})
					api, err := admin.New(e.svc, nil, admin.Options{Token: adminToken})
					if err != nil {
						t.Fatal(err)
					}
					admin := httptest.NewServer(api)
					t.Cleanup(admin.Close)
					b := e.browser(t)
					b.signIn("alice")

					tc.change(t, e, admin)
					p := b.get("/account/profile")
					ended := p.status == http.StatusSeeOther && p.header.Get("Location") == "/account/signin"
					if ended != tc.ends {
						t.Fatalf("profile after the change: %d %s; got session ended %v, want %v", p.status, p.header.Get("Location"), ended, tc.ends)
					}
					if !tc.ends {
						return
					}
					// The session is gone for good, not just refused once.
					if p := b.get("/account/profile"); p.status != http.StatusSeeOther {
						t.Errorf("profile again: %d, want 303 to sign-in", p.status)
					}
					if p := b.get("/account/signin"); p.status != http.StatusOK {
						t.Errorf("sign-in page after the session ended: %d, want 200", p.status)
					}
				})
			}
		})
	}
}

// TestSignInCookieOverTLS: over TLS the sign-in form's CSRF cookie is a
// __Host- cookie (Secure, Path=/, no Domain), and a plain-named cookie
// planted by a sibling subdomain or a plain-HTTP page (cookie tossing) is
// no token for it.
func TestSignInCookieOverTLS(t *testing.T) {
	e := newEnv(t, "")
	e.user(t, "alice", []string{"orders"})
	ts := httptest.NewTLSServer(e.h)
	t.Cleanup(ts.Close)
	jar, _ := cookiejar.New(nil)
	c := ts.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	resp, err := c.Get(ts.URL + "/account/signin")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cs := resp.Cookies()
	if len(cs) != 1 {
		t.Fatalf("sign-in page over TLS: cookies %+v, want one", cs)
	}
	got := cs[0]
	if got.Name != "__Host-keygate_signin" || !got.Secure || got.Path != "/" || got.Domain != "" || !got.HttpOnly || got.SameSite != http.SameSiteStrictMode {
		t.Errorf("sign-in cookie over TLS: %q Secure=%v Path=%q Domain=%q HttpOnly=%v SameSite=%v; want __Host-keygate_signin, Secure, Path=/, no Domain, HttpOnly, SameSite=Strict",
			got.Name, got.Secure, got.Path, got.Domain, got.HttpOnly, got.SameSite)
	}
	csrf := testkit.CSRF(string(body), "")
	if csrf == "" {
		t.Fatal("no CSRF token in the sign-in form")
	}

	post := func(cookie *http.Cookie, csrf string) *http.Response {
		t.Helper()
		form := url.Values{"username": {"alice"}, "password": {"pw-alice-secret"}, "csrf": {csrf}}
		req, _ := http.NewRequest("POST", ts.URL+"/account/signin", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if cookie != nil {
			req.AddCookie(cookie)
		}
		plain := ts.Client()
		plain.CheckRedirect = c.CheckRedirect
		resp, err := plain.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// A tossed cookie without the prefix, with the same value in the form.
	if resp := post(&http.Cookie{Name: "keygate_signin", Value: strings.Repeat("A", 43)}, strings.Repeat("A", 43)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in over TLS with a plain-named cookie: %d, want 403", resp.StatusCode)
	}
	// The form's own token signs in, and the cookie is removed under its
	// name and path.
	resp = post(got, csrf)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in over TLS: %d, want 303", resp.StatusCode)
	}
	var removed, session bool
	for _, c := range resp.Cookies() {
		switch c.Name {
		case "__Host-keygate_signin":
			removed = c.MaxAge < 0 && c.Path == "/" && c.Secure
		case sessionCookie:
			session = c.Secure && c.HttpOnly
		}
	}
	if !removed || !session {
		t.Errorf("after sign-in over TLS: Set-Cookie %q; want the __Host- cookie removed (Path=/, Secure) and a Secure session cookie", resp.Header.Values("Set-Cookie"))
	}
}
