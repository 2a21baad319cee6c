package account

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/httpkit/httpkittest"
)

// retrievable is the auth section that turns retrievable secrets on.
const retrievable = `auth: {digest_keys: [{id: t1, secret: "a-test-digest-key-of-at-least-32-bytes"}], encryption_keys: [{id: e1, secret: "an-encryption-key-of-at-least-32-bytes!"}]}`

var tokenRe = regexp.MustCompile(`id="token" readonly value="(kgl_[^"]+)"`)

// showForm is the Profile's Show key form for a handle.
func showForm(handle string) string { return `action="/account/keys/` + handle + `/show"` }

// TestShowKey (seed 003): with auth.encryption_keys, Show key on the
// Profile's named keys opens the Save generated key window with the
// key's token again (no-store, Copy, Download, Close), for the key's
// owner only, with a CSRF token, and only while the key is active and
// unexpired (authz's KeyToken rule); what it shows is escaped.
func TestShowKey(t *testing.T) {
	e := newEnv(t, retrievable)
	b := e.signedIn(t, "alice", []string{"orders", "billing"}, authz.AuthorityManageUserAPIKey)
	saved := b.post("/account/keys", url.Values{"handle": {"ci"}, "description": {"<b>nightly</b>"}, "apiSets": {"billing"}})
	made := tokenRe.FindStringSubmatch(saved.body)
	if saved.status != http.StatusCreated || made == nil {
		t.Fatalf("Generate key: %d", saved.status)
	}
	if !strings.Contains(b.get("/account/profile").body, showForm("ci")) {
		t.Fatalf("Profile: no Show key form for ci with retrievable secrets")
	}

	shown := b.post("/account/keys/ci/show", nil)
	got := tokenRe.FindStringSubmatch(shown.body)
	if shown.status != http.StatusOK || got == nil || got[1] != made[1] {
		t.Fatalf("Show key: %d, token %v; want 200 and the token made at Generate key", shown.status, got)
	}
	if cc := shown.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Show key: Cache-Control %q, want no-store", cc)
	}
	if shown.header.Get("Set-Cookie") != "" {
		t.Errorf("Show key set a cookie: %q", shown.header.Get("Set-Cookie"))
	}
	for _, want := range []string{`id="shown-again"`, `id="copy-token"`, `download="ci.APIKEY"`,
		`href="data:text/plain;charset=utf-8,` + made[1] + `%0A"`, `id="close" href="/account/profile#keys"`,
		`&lt;b&gt;nightly&lt;/b&gt;`} {
		if !strings.Contains(shown.body, want) {
			t.Errorf("Show key window lacks %s", want)
		}
	}
	if strings.Contains(shown.body, "<b>nightly") {
		t.Errorf("Show key window: the description's markup is not escaped")
	}
	if p := b.get("/account/profile"); strings.Contains(p.body, made[1]) {
		t.Errorf("the token is on the Profile page after Show key")
	}

	// Without the CSRF token nothing is shown.
	if p := b.do("POST", "/account/keys/ci/show", url.Values{}); p.status != http.StatusForbidden || strings.Contains(p.body, made[1]) {
		t.Errorf("Show key without the CSRF token: %d, token shown %v; want 403 and no token", p.status, strings.Contains(p.body, made[1]))
	}
	// Markup in the handle is not a key, and is not echoed.
	if p := b.post("/account/keys/%3Cscript%3Ealert(1)%3C%2Fscript%3E/show", nil); p.status != http.StatusNotFound || strings.Contains(p.body, "<script>alert") {
		t.Errorf("Show key for a handle with markup: %d; want 404 without the markup", p.status)
	}
	// Another user's key is not found.
	m := e.signedIn(t, "mallory", []string{"orders", "billing"}, authz.AuthorityManageUserAPIKey)
	if p := m.post("/account/keys/ci/show", nil); p.status != http.StatusNotFound || strings.Contains(p.body, made[1]) {
		t.Errorf("mallory's Show key on alice's ci: %d; want 404 and no token", p.status)
	}

	// An expired key: not offered, and refused if posted anyway.
	if _, _, err := e.svc.Accounts.CreateKey(t.Context(), "alice", authz.KeySpec{Handle: "brief", Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.get("/account/profile").body, showForm("brief")) {
		t.Errorf("Profile: no Show key form for brief before its expiry")
	}
	e.authzClock.Add(2 * time.Hour)
	if strings.Contains(b.get("/account/profile").body, showForm("brief")) {
		t.Errorf("Profile: Show key offered for an expired key")
	}
	if p := b.post("/account/keys/brief/show", nil); p.status != http.StatusConflict || !strings.Contains(p.body, errKeyInactive.msg) || tokenRe.MatchString(p.body) {
		t.Errorf("Show key for an expired key: %d; want 409 saying why, no token", p.status)
	}

	// A revoked key (an administrator's Revoke keeps it listed): likewise.
	httpkittest.RevokeKey(t, e.svc, "alice", "ci")
	if p := b.get("/account/profile"); !strings.Contains(p.body, `class="handle">ci<`) || strings.Contains(p.body, showForm("ci")) {
		t.Errorf("Profile: want the revoked ci listed without Show key")
	}
	if p := b.post("/account/keys/ci/show", nil); p.status != http.StatusConflict || !strings.Contains(p.body, errKeyInactive.msg) || strings.Contains(p.body, made[1]) {
		t.Errorf("Show key for a revoked key: %d; want 409 saying why, no token", p.status)
	}
}

// TestShowKeyNotRetrievable: without auth.encryption_keys a token is
// shown once: the Profile offers no Show key, and a forced post is
// refused with authz's reason and no token.
func TestShowKeyNotRetrievable(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(t, "alice", []string{"orders"}, authz.AuthorityManageUserAPIKey)
	made := tokenRe.FindStringSubmatch(b.post("/account/keys", url.Values{"handle": {"ci"}, "apiSets": {"orders"}}).body)
	if made == nil {
		t.Fatal("Generate key: no token")
	}
	if p := b.get("/account/profile"); !strings.Contains(p.body, `class="handle">ci<`) || strings.Contains(p.body, showForm("ci")) || strings.Contains(p.body, "Show key") {
		t.Errorf("Profile without retrievable secrets: want ci listed and no Show key")
	}
	p := b.post("/account/keys/ci/show", nil)
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "The secret is not retrievable: it was shown once") || tokenRe.MatchString(p.body) {
		t.Errorf("a forced Show key without retrievable secrets: %d; want 403 saying the secret is not retrievable, no token", p.status)
	}
}
