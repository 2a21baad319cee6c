package account

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/testkit"
)

func TestAdminPagesNeedAdmin(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(t, "bob", []string{"orders"}, authz.AuthorityManageUserAPIKey)
	if strings.Contains(b.get("/account/profile").body, "/account/admin/users") {
		t.Errorf("a user without ADMIN sees the Users link")
	}
	for _, path := range []string{"/account/admin/users", "/account/admin/users/bob"} {
		if p := b.get(path); p.status != http.StatusForbidden {
			t.Errorf("GET %s without ADMIN: %d, want 403", path, p.status)
		}
	}
	_, cred, err := e.svc.Accounts.CreateKey(t.Context(), "bob", authz.KeySpec{Handle: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if p := b.post("/account/admin/credentials/"+cred.ID+"/revoke", nil); p.status != http.StatusForbidden {
		t.Errorf("revoke without ADMIN: %d, want 403", p.status)
	}
	if c, _ := e.svc.Accounts.Credential(t.Context(), cred.ID); c.Status != authz.StatusActive {
		t.Errorf("a refused revoke revoked the key: %s", c.Status)
	}
}

// TestAdminRevokeAndUnvoid: the user list, a user's account details with
// their keys, Revoke, and Unvoid of an ApiKey token voided by wrong tokens.
func TestAdminRevokeAndUnvoid(t *testing.T) {
	e := newEnv(t, "")
	e.user(t, "root", []string{"orders"}, authz.AuthorityAdmin)
	e.user(t, "alice", []string{"orders"})
	ctx := t.Context()
	_, cred, err := e.svc.Accounts.CreateKey(ctx, "alice", authz.KeySpec{Handle: "ci", Description: "<i>nightly</i>"})
	if err != nil {
		t.Fatal(err)
	}
	key, token, err := e.svc.Accounts.NewAPIKeyToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	wrong := "ApiKey " + key + ":" + authz.NewToken(authz.KindAPIKey)
	for range 3 {
		_ = e.verify(t, wrong, "orders")
	}
	// Strikes are counted after the answer.
	testkit.Eventually(t, 10*time.Second, "the ApiKey token voided after three wrong tokens", func() bool {
		st, _, _ := e.svc.Accounts.APIKeyStatus(ctx, "alice")
		return st == authz.StatusVoided
	})

	b := e.browser(t)
	b.signIn("root")
	if !strings.Contains(b.get("/account/profile").body, `href="/account/admin/users"`) {
		t.Errorf("ADMIN does not see the Users link")
	}
	list := b.get("/account/admin/users")
	if list.status != 200 || !strings.Contains(list.body, `href="/account/admin/users/alice"`) || !strings.Contains(list.body, `href="/account/admin/users/root"`) {
		t.Fatalf("user list: %d; want both users linked", list.status)
	}
	details := b.get("/account/admin/users/alice")
	if details.status != 200 || !strings.Contains(details.body, cred.ID) || !strings.Contains(details.body, "&lt;i&gt;nightly&lt;/i&gt;") ||
		!strings.Contains(details.body, `<span class="status voided">voided</span>`) || !strings.Contains(details.body, "/account/admin/users/alice/unvoid") {
		t.Fatalf("account details: %d; want the key (description escaped) and the voided ApiKey with Unvoid", details.status)
	}
	if p := b.post("/account/admin/users/alice/unvoid", nil); p.status != http.StatusSeeOther || p.header.Get("Location") != "/account/admin/users/alice" {
		t.Fatalf("Unvoid: %d %s", p.status, p.header.Get("Location"))
	}
	if err := e.verify(t, "ApiKey "+key+":"+token, "orders"); err != nil {
		t.Errorf("the right token after Unvoid: %v", err)
	}
	b.get("/account/admin/users/alice")
	if p := b.post("/account/admin/credentials/"+cred.ID+"/revoke", nil); p.status != http.StatusSeeOther {
		t.Fatalf("Revoke: %d", p.status)
	}
	if c, _ := e.svc.Accounts.Credential(ctx, cred.ID); c.Status != authz.StatusRevoked {
		t.Errorf("after Revoke the key is %s", c.Status)
	}
	after := b.get("/account/admin/users/alice")
	if !regexp.MustCompile(`<td class="handle">ci</td>(?s:.*?)<span class="status revoked">revoked</span>`).MatchString(after.body) {
		t.Errorf("account details after Revoke: the key is not shown revoked")
	}
	if p := b.get("/account/admin/users/nobody"); p.status != http.StatusNotFound {
		t.Errorf("an unknown user: %d, want 404", p.status)
	}
}

// TestStoreDownFailsClosed: a store that cannot be reached is a 503 page,
// never "signed out" and never a page without a session check.
func TestStoreDownFailsClosed(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(t, "alice", []string{"orders"})
	e.closeStore()
	p := b.get("/account/profile")
	if p.status != http.StatusServiceUnavailable || p.header.Get("Retry-After") == "" || !strings.Contains(p.body, "cannot be reached") {
		t.Errorf("profile with the store down: %d %q; want 503 with Retry-After", p.status, p.header.Get("Retry-After"))
	}
}
