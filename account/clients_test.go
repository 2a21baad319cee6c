package account

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/keygate/keygate/authz"
)

var (
	clientIDRe     = regexp.MustCompile(`id="client-id" readonly value="([^"]+)"`)
	clientSecretRe = regexp.MustCompile(`id="client-secret" readonly value="([^"]+)"`)
)

// TestOAuthClients (seeds 000, 001): Generate New API Access Keys shows
// the client ID and secret once; Get existing keys shows the ID only (no
// retrievable secrets); New secret replaces the secret; Delete removes it.
func TestOAuthClients(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(t, "alice", []string{"orders"})
	created := b.post("/account/clients", url.Values{"description": {"layar"}})
	id, secret := clientIDRe.FindStringSubmatch(created.body), clientSecretRe.FindStringSubmatch(created.body)
	if created.status != http.StatusCreated || id == nil || secret == nil || !strings.Contains(created.body, "shown only this once") {
		t.Fatalf("Generate New API Access Keys: %d; want 201 with the client ID and secret", created.status)
	}
	ctx := t.Context()
	if _, err := e.svc.OAuth.AuthenticateClient(ctx, id[1], secret[1]); err != nil {
		t.Fatalf("the secret shown does not authenticate the client: %v", err)
	}
	profile := b.get("/account/profile")
	if !strings.Contains(profile.body, id[1]) || strings.Contains(profile.body, secret[1]) {
		t.Errorf("profile: want the client listed without its secret")
	}
	existing := b.get("/account/clients/" + id[1])
	if existing.status != 200 || !strings.Contains(existing.body, id[1]) || strings.Contains(existing.body, secret[1]) || clientSecretRe.MatchString(existing.body) {
		t.Errorf("Get existing keys: %d; want the client ID and no secret (not retrievable)", existing.status)
	}
	renewed := b.post("/account/clients/"+id[1]+"/secret", nil)
	next := clientSecretRe.FindStringSubmatch(renewed.body)
	if renewed.status != 200 || next == nil || next[1] == secret[1] {
		t.Fatalf("New secret: %d; want a new secret", renewed.status)
	}
	if _, err := e.svc.OAuth.AuthenticateClient(ctx, id[1], secret[1]); err == nil {
		t.Errorf("the old secret still works after New secret")
	}
	if _, err := e.svc.OAuth.AuthenticateClient(ctx, id[1], next[1]); err != nil {
		t.Errorf("the new secret: %v", err)
	}
	// Someone else's client is not found, and not changed.
	m := e.signedIn(t, "mallory", []string{"orders"})
	if p := m.get("/account/clients/" + id[1]); p.status != http.StatusNotFound {
		t.Errorf("another user's client: %d, want 404", p.status)
	}
	if p := m.post("/account/clients/"+id[1]+"/delete", nil); p.status != http.StatusNotFound {
		t.Errorf("deleting another user's client: %d, want 404", p.status)
	}
	if p := b.post("/account/clients/"+id[1]+"/delete", nil); p.status != http.StatusSeeOther {
		t.Fatalf("Delete client: %d, want 303", p.status)
	}
	if _, err := e.svc.OAuth.AuthenticateClient(ctx, id[1], next[1]); err == nil {
		t.Errorf("a deleted client still authenticates")
	}
	if strings.Contains(b.get("/account/profile").body, id[1]) {
		t.Errorf("a deleted client is still listed")
	}
}

// TestRetrievableClientSecret: with auth.encryption_keys, Get existing
// keys shows the current secret again (authz's ClientSecret).
func TestRetrievableClientSecret(t *testing.T) {
	e := newEnv(t, `auth: {digest_keys: [{id: t1, secret: "a-test-digest-key-of-at-least-32-bytes"}], encryption_keys: [{id: e1, secret: "an-encryption-key-of-at-least-32-bytes!"}]}`)
	b := e.signedIn(t, "alice", []string{"orders"})
	created := b.post("/account/clients", nil)
	id, secret := clientIDRe.FindStringSubmatch(created.body), clientSecretRe.FindStringSubmatch(created.body)
	if id == nil || secret == nil {
		t.Fatalf("create: %d", created.status)
	}
	got := clientSecretRe.FindStringSubmatch(b.get("/account/clients/" + id[1]).body)
	if got == nil || got[1] != secret[1] {
		t.Errorf("Get existing keys with retrievable secrets: %v, want the secret", got)
	}
}

// TestNamedKeyFlow: the key works until deleted; the New API Key window
// keeps what was typed when authz refuses it, and creates nothing.
func TestNamedKeyFlow(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(t, "alice", []string{"orders", "billing"}, authz.AuthorityManageUserAPIKey)
	win := b.get("/account/keys/new")
	if !strings.Contains(win.body, `<option value="orders">orders</option>`) || !strings.Contains(win.body, `<option value="billing">billing</option>`) {
		t.Errorf("New API Key window does not list the user's API sets as Available API")
	}
	saved := b.post("/account/keys", url.Values{"handle": {"ci"}, "description": {"nightly"}, "apiSets": {"billing"}})
	token := regexp.MustCompile(`id="token" readonly value="(kgl_[^"]+)"`).FindStringSubmatch(saved.body)
	if saved.status != http.StatusCreated || token == nil {
		t.Fatalf("Save: %d", saved.status)
	}
	if !strings.Contains(saved.body, `download="ci.APIKEY"`) || !strings.Contains(saved.body, `href="data:text/plain;charset=utf-8,`+token[1]+`%0A"`) {
		t.Errorf("Download link: want ci.APIKEY holding the token and a newline")
	}
	if err := e.verify(t, "Bearer "+token[1], "billing"); err != nil {
		t.Fatalf("the key: %v", err)
	}
	if err := e.verify(t, "Bearer "+token[1], "orders"); err == nil {
		t.Errorf("a billing key works for orders")
	}
	dup := b.post("/account/keys", url.Values{"handle": {"ci"}, "description": {"again"}, "apiSets": {"orders"}})
	if dup.status != http.StatusConflict || !strings.Contains(dup.body, "already have a key named ci") ||
		!strings.Contains(dup.body, `value="ci"`) || !strings.Contains(dup.body, `<option value="orders" selected>`) {
		t.Errorf("a taken name: %d; want 409 with the form as typed", dup.status)
	}
	foreign := b.post("/account/keys", url.Values{"handle": {"shop"}, "apiSets": {"shop"}})
	if foreign.status != http.StatusBadRequest || !strings.Contains(foreign.body, `apiSets: &#34;shop&#34; is not granted to the owner`) {
		t.Errorf("an API set the user lacks: %d; want 400 naming apiSets", foreign.status)
	}
	if _, err := e.svc.Accounts.KeyByHandle(t.Context(), "alice", "shop"); err == nil {
		t.Errorf("a refused key was created")
	}
	if p := b.post("/account/keys/ci/delete", nil); p.status != http.StatusSeeOther {
		t.Fatalf("delete: %d", p.status)
	}
	if err := e.verify(t, "Bearer "+token[1], "billing"); err == nil {
		t.Errorf("a deleted key still works")
	}
	if strings.Contains(b.get("/account/profile").body, ">ci<") {
		t.Errorf("a deleted key is still listed")
	}
}

// TestApiKeyScreen (seed 004): the key never changes; Generate Token
// shows the token and Usage once, and the earlier token stops working.
// Showing the screen makes no key: the first token does.
func TestApiKeyScreen(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(t, "alice", []string{"orders"})
	keyRe := regexp.MustCompile(`id="key" readonly value="(kgk_[^"]+)"`)
	usageRe := regexp.MustCompile(`id="usage" readonly value="([^"]+)"`)
	first := b.get("/account/apikey")
	if keyRe.MatchString(first.body) || usageRe.MatchString(first.body) || !strings.Contains(first.body, "no key yet") {
		t.Fatalf("API screen before a token: want no key, no Usage, and \"no key yet\"")
	}
	if _, _, err := e.svc.Accounts.ShowAPIKey(t.Context(), "alice"); !errors.Is(err, authz.ErrNoAPIKey) {
		t.Fatalf("after showing the screen: ShowAPIKey error %v, want ErrNoAPIKey (the screen made a key)", err)
	}
	gen := b.post("/account/apikey/token", nil)
	key := keyRe.FindStringSubmatch(gen.body)
	usage := usageRe.FindStringSubmatch(gen.body)
	if key == nil || usage == nil || !strings.HasPrefix(usage[1], "ApiKey "+key[1]+":kgt_") {
		t.Fatalf("Generate Token: key %v, Usage %v, want ApiKey key:kgt_...", key, usage)
	}
	if err := e.verify(t, usage[1], "orders"); err != nil {
		t.Fatalf("the Usage value: %v", err)
	}
	again := b.get("/account/apikey")
	if k := keyRe.FindStringSubmatch(again.body); k == nil || k[1] != key[1] || strings.Contains(again.body, usage[1]) {
		t.Errorf("API screen after Generate Token: want the same key and no token")
	}
	b.post("/account/apikey/token", nil)
	if err := e.verify(t, usage[1], "orders"); err == nil {
		t.Errorf("the earlier token works after a new one")
	}
}

// TestClientCreatesCredentials: the new-client form offers the
// createsCredentials box; ticked, the client is made so that its access
// tokens may create credentials (a session may choose that), and its
// window says so; unticked, it is not; any other value is a 400 naming
// the field, and makes nothing.
func TestClientCreatesCredentials(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(t, "alice", []string{"orders"})
	if p := b.get("/account/profile"); !strings.Contains(p.body, `name="createsCredentials"`) {
		t.Fatalf("profile: the new-client form has no createsCredentials box")
	}
	for _, c := range []struct {
		name, value string
		want        bool
		shows       string
	}{
		{"ticked", "on", true, "Yes: its access tokens may create"},
		{"not ticked", "", false, `id="client-creates">No<`},
	} {
		t.Run(c.name, func(t *testing.T) {
			form := url.Values{"description": {c.name}}
			if c.value != "" {
				form.Set("createsCredentials", c.value)
			}
			p := b.post("/account/clients", form)
			id := clientIDRe.FindStringSubmatch(p.body)
			if p.status != http.StatusCreated || id == nil {
				t.Fatalf("Generate New API Access Keys (%s): %d", c.name, p.status)
			}
			cl, err := e.svc.OAuth.GetClient(t.Context(), "alice", id[1])
			if err != nil {
				t.Fatal(err)
			}
			if cl.CreatesCredentials != c.want {
				t.Errorf("%s: createsCredentials %v, want %v", c.name, cl.CreatesCredentials, c.want)
			}
			if !strings.Contains(p.body, c.shows) {
				t.Errorf("%s: the client window does not say %q", c.name, c.shows)
			}
		})
	}
	p := b.post("/account/clients", url.Values{"createsCredentials": {"yes"}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "createsCredentials") {
		t.Errorf("createsCredentials=yes: %d, want 400 naming the field", p.status)
	}
	if cs, _ := e.svc.OAuth.Clients(t.Context(), "alice"); len(cs) != 2 {
		t.Errorf("alice has %d clients, want 2", len(cs))
	}
}
