package account

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// TestChangePassword: a signed-in user changes their own password with
// the current one; this session stays (under a new id), every other
// session ends, the old password no longer signs in and the new one does.
// A wrong current password, a repetition that differs, a too-short new
// password and a form without the CSRF token change nothing.
func TestChangePassword(t *testing.T) {
	e := newEnv(t, "self_service: {max_password_failures_per_user: 3}")
	e.user(t, "alice", []string{"orders"})
	here, elsewhere := e.browser(t), e.browser(t)
	here.signIn("alice")
	elsewhere.signIn("alice")
	old := sessionID(t, here)

	p := here.get("/account/password")
	if p.status != http.StatusOK || !strings.Contains(p.body, `autocomplete="current-password"`) || !strings.Contains(p.body, `href="/account/password"`) {
		t.Fatalf("GET /account/password: %d\n%s", p.status, p.body)
	}
	unchanged := func(t *testing.T, what string, p page, status int, says string) {
		t.Helper()
		if p.status != status || !strings.Contains(p.body, says) {
			t.Errorf("%s: %d, want %d saying %q\n%s", what, p.status, status, says, p.body)
		}
		if _, err := e.svc.Passwords.CheckPassword(t.Context(), "alice", "pw-alice-secret", netip.MustParseAddr("192.0.2.1")); err != nil {
			t.Errorf("%s: the old password no longer works: %v", what, err)
		}
		if q := elsewhere.get("/account/profile"); q.status != http.StatusOK {
			t.Errorf("%s: the other session ended (%d)", what, q.status)
		}
	}
	unchanged(t, "wrong current password",
		here.post("/account/password", url.Values{"current": {"not-the-password"}, "new": {"a-new-password"}, "confirm": {"a-new-password"}}),
		http.StatusUnauthorized, "The current password is not right.")
	unchanged(t, "repetition differs",
		here.post("/account/password", url.Values{"current": {"pw-alice-secret"}, "new": {"a-new-password"}, "confirm": {"a-new-passw0rd"}}),
		http.StatusBadRequest, "differ")
	unchanged(t, "too short",
		here.post("/account/password", url.Values{"current": {"pw-alice-secret"}, "new": {"short"}, "confirm": {"short"}}),
		http.StatusBadRequest, "8 to 256")
	unchanged(t, "no CSRF token",
		here.do("POST", "/account/password", url.Values{"current": {"pw-alice-secret"}, "new": {"a-new-password"}, "confirm": {"a-new-password"}}),
		http.StatusForbidden, "")

	here.get("/account/password")
	p = here.post("/account/password", url.Values{"current": {"pw-alice-secret"}, "new": {"a-new-password"}, "confirm": {"a-new-password"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/account/password?changed=1" {
		t.Fatalf("change: %d %q, want 303 to /account/password?changed=1\n%s", p.status, p.header.Get("Location"), p.body)
	}
	if p = here.get("/account/password?changed=1"); p.status != http.StatusOK || !strings.Contains(p.body, "Your password is changed") {
		t.Errorf("after the change: %d\n%s", p.status, p.body)
	}
	if id := sessionID(t, here); id == old || id == "" {
		t.Errorf("the session id stayed %q, want a new one", id)
	}
	if q := elsewhere.get("/account/profile"); q.status != http.StatusSeeOther || q.header.Get("Location") != "/account/signin" {
		t.Errorf("the other session: %d %q, want it ended (303 to sign-in)", q.status, q.header.Get("Location"))
	}
	// The old cookie, replayed, is worth nothing.
	replay := e.browser(t)
	u, _ := url.Parse(e.srv.URL + "/account/")
	replay.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: old, Path: "/account"}})
	if q := replay.get("/account/profile"); q.status != http.StatusSeeOther {
		t.Errorf("the old session cookie: %d, want 303 to sign-in", q.status)
	}
	if _, err := e.svc.Passwords.CheckPassword(t.Context(), "alice", "pw-alice-secret", netip.MustParseAddr("192.0.2.1")); err == nil {
		t.Error("the old password still signs in")
	}
	if _, err := e.svc.Passwords.CheckPassword(t.Context(), "alice", "a-new-password", netip.MustParseAddr("192.0.2.1")); err != nil {
		t.Errorf("the new password: %v", err)
	}
}

// TestChangePasswordLimited: wrong current passwords count against the
// same failure limit as sign-ins, so a stolen session cannot guess the
// password faster than the sign-in page allows.
func TestChangePasswordLimited(t *testing.T) {
	e := newEnv(t, "self_service: {max_password_failures_per_user: 2}")
	b := e.signedIn(t, "alice", []string{"orders"})
	for range 2 {
		b.get("/account/password")
		b.post("/account/password", url.Values{"current": {"guess-guess"}, "new": {"a-new-password"}, "confirm": {"a-new-password"}})
	}
	b.get("/account/password")
	p := b.post("/account/password", url.Values{"current": {"pw-alice-secret"}, "new": {"a-new-password"}, "confirm": {"a-new-password"}})
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" {
		t.Errorf("right password past the limit: %d Retry-After %q, want 429 with Retry-After", p.status, p.header.Get("Retry-After"))
	}
	if _, err := e.svc.Passwords.CheckPassword(t.Context(), "alice", "a-new-password", netip.MustParseAddr("192.0.2.1")); err == nil {
		t.Error("the password changed past the limit")
	}
}

// sessionID is the session cookie b holds.
func sessionID(t *testing.T, b *browser) string {
	t.Helper()
	u, _ := url.Parse(b.e.srv.URL + "/account/profile")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	return ""
}
