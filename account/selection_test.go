package account

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keygate/keygate/authz"
)

// TestNewKeyNeedsSelectedAPI: Save with an empty Selected API list is
// refused (400, the window again, naming the field) and makes no key; it
// does not mean "all my API sets".
func TestNewKeyNeedsSelectedAPI(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(t, "alice", []string{"orders", "billing"}, authz.AuthorityManageUserAPIKey)
	if p := b.get("/account/keys/new"); !strings.Contains(p.body, "Move at least one API set to Selected API") {
		t.Errorf("the New API Key window does not say a choice is needed")
	}
	p := b.post("/account/keys", url.Values{"handle": {"ci"}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "apiSets: choose at least one API set") || !strings.Contains(p.body, `id="new-key"`) {
		t.Errorf("Save with nothing selected: %d, want 400 and the window naming apiSets:\n%s", p.status, p.body)
	}
	if _, err := e.svc.Accounts.KeyByHandle(t.Context(), "alice", "ci"); err == nil {
		t.Errorf("the refused Save made a key")
	}
	if p := b.post("/account/keys", url.Values{"handle": {"ci"}, "apiSets": {"orders", "billing"}}); p.status != http.StatusCreated {
		t.Errorf("Save with both selected: %d, want 201", p.status)
	}
}

// TestPagesKeyAuthoritySetting: self_service.manage_key_authority_for
// holds on the account pages as on the API: listing oauth_clients and
// apikey, a user without MANAGE_USER_API_KEY makes neither a client nor
// an ApiKey token, but (named keys not listed) a named key.
func TestPagesKeyAuthoritySetting(t *testing.T) {
	e := newEnv(t, "self_service: {manage_key_authority_for: [oauth_clients, apikey]}")
	b := e.signedIn(t, "bob", []string{"orders"})
	if p := b.get("/account/profile"); !strings.Contains(p.body, `id="no-client-authority"`) || strings.Contains(p.body, `action="/account/clients"`) {
		t.Errorf("profile without the authority: want no new-client form and the reason")
	}
	if p := b.post("/account/clients", url.Values{"description": {"x"}}); p.status != http.StatusForbidden || !strings.Contains(p.body, "MANAGE_USER_API_KEY") {
		t.Errorf("client without the authority: %d, want 403", p.status)
	}
	if p := b.post("/account/apikey/token", nil); p.status != http.StatusForbidden || !strings.Contains(p.body, "MANAGE_USER_API_KEY") {
		t.Errorf("ApiKey token without the authority: %d, want 403", p.status)
	}
	if p := b.post("/account/keys", url.Values{"handle": {"ci"}, "apiSets": {"orders"}}); p.status != http.StatusCreated {
		t.Errorf("named key without the authority, named keys not listed: %d, want 201", p.status)
	}
	if clients, _ := e.svc.OAuth.Clients(t.Context(), "bob"); len(clients) != 0 {
		t.Errorf("bob has %d clients, want none", len(clients))
	}
}
