package admin_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/keygate/keygate/authz"
)

// TestNarrowKeyIsNotRoot: a key an administrator made for the billing API
// set (not for administration) cannot create an ADMIN user with every API
// set; their password and a key made for administration can act.
func TestNarrowKeyIsNotRoot(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.user(t, "root", []string{"orders", "billing"}, "ADMIN")
		password := e.password(t, "root", "root-password-1")
		tok, _ := e.createKey(t, "root", authz.KeySpec{Handle: "billing", APISets: []string{"billing"}})
		billing := bearer(tok)
		body := `{"name": "evil", "authorities": ["ADMIN"], "apiSets": ["orders", "billing"]}`
		for _, c := range []struct{ name, method, path, body string }{
			{"create an ADMIN user", "POST", "/admin/users", body},
			{"list users", "GET", "/admin/users", ""},
			{"make oneself broader", "PATCH", "/admin/users/root", `{"apiSets": ["orders", "billing", "payroll"]}`},
		} {
			t.Run(c.name, func(t *testing.T) {
				wantError(t, c.name+" with the billing key", e.call(t, c.method, c.path, billing, c.body), 403, "forbidden")
			})
		}
		wantError(t, "evil was not created", e.call(t, "GET", "/admin/users/evil", bearer(adminToken), ""), 404, "not_found")

		want(t, "create with the password", e.call(t, "POST", "/admin/users", password, body), 201)
		want(t, "create with a key made for administration", e.call(t, "POST", "/admin/users", e.adminKey(t, "root", "ops"),
			`{"name": "ops-made", "apiSets": ["orders"]}`), 201)
	})
}

// TestGrantOnlyWhatYouHold: an administrator whose own grant lacks an API
// set (or whose admin key carries less) cannot grant it, neither to a new
// user nor by changing one; the bootstrap token can.
func TestGrantOnlyWhatYouHold(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.user(t, "ordersadmin", []string{"orders"}, "ADMIN")
		password := e.password(t, "ordersadmin", "orders-password-1")
		e.user(t, "root", []string{"orders", "billing"}, "ADMIN")
		e.user(t, "alice", []string{"orders"})
		narrowKey, _ := e.createKey(t, "root", authz.KeySpec{Handle: "orders-admin", APISets: []string{"orders"}, Admin: true})
		for _, a := range []struct{ name, authorization string }{
			{"password of an admin without billing", password},
			{"admin key narrowed to orders", bearer(narrowKey)},
		} {
			t.Run(a.name, func(t *testing.T) {
				for _, c := range []struct{ name, method, path, body, field string }{
					{"new user with billing", "POST", "/admin/users", `{"name": "bob", "apiSets": ["billing"]}`, "apiSets"},
					{"alice gets billing", "PATCH", "/admin/users/alice", `{"apiSets": ["orders", "billing"]}`, "apiSets"},
				} {
					d := wantError(t, c.name, e.call(t, c.method, c.path, a.authorization, c.body), 403, "forbidden")
					if !strings.HasPrefix(d, c.field+`: you cannot grant "billing"`) {
						t.Errorf("%s: description %q, want it to name %s and billing", c.name, d, c.field)
					}
				}
				want(t, "alice gets orders only", e.call(t, "PATCH", "/admin/users/alice", a.authorization, `{"apiSets": ["orders"], "scopes": ["read"]}`), 200)
			})
		}
		if u, err := e.svc.Accounts.GetUser(t.Context(), "alice"); err != nil || strings.Join(u.APISets, ",") != "orders" {
			t.Errorf("alice after the refused changes: %+v, %v; want API sets [orders]", u, err)
		}
		wantError(t, "bob was not created", e.call(t, "GET", "/admin/users/bob", bearer(adminToken), ""), 404, "not_found")
		want(t, "the bootstrap token grants billing", e.call(t, "PATCH", "/admin/users/alice", bearer(adminToken), `{"apiSets": ["orders", "billing"]}`), 200)
	})
}

// TestAdminKeyNeedsAdmin: only an ADMIN user gets a key for the admin API.
func TestAdminKeyNeedsAdmin(t *testing.T) {
	e := newEnv(t, "embedded", adminToken)
	e.user(t, "alice", []string{"orders"}, "MANAGE_USER_API_KEY")
	_, _, err := e.svc.Accounts.CreateKey(t.Context(), "alice", authz.KeySpec{Handle: "k", Admin: true})
	if err == nil || !strings.Contains(err.Error(), "admin: ") {
		t.Errorf("admin key for a user without ADMIN: got %v, want an input error naming admin", err)
	}
}

// TestRevokeCascades: an administrator's revocation of a key revokes the
// key it made, on the proxied route too; the credentials list shows the
// parent link and the admin flag.
func TestRevokeCascades(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.user(t, "root", []string{"orders"}, "ADMIN")
		e.user(t, "alice", []string{"orders"}, "MANAGE_USER_API_KEY")
		ops := e.adminKey(t, "root", "ops")
		_, parent := e.createKey(t, "alice", authz.KeySpec{Handle: "parent"})
		childTok, child := e.createKey(t, "alice", authz.KeySpec{Handle: "child", CreatedBy: parent.ID})
		if got := e.proxied(t, bearer(childTok)); got != 200 {
			t.Fatalf("child before: %d", got)
		}
		want(t, "revoke the parent", e.call(t, "DELETE", "/admin/credentials/"+parent.ID, ops, ""), 204)
		e.waitProxied(t, "the child of a revoked key", bearer(childTok), 401)
		r := e.call(t, "GET", "/admin/users/alice/credentials", ops, "")
		want(t, "alice's credentials", r, 200)
		for _, s := range []string{`"id":"` + child.ID + `","kind":"key_token","handle":"child"`, `"status":"revoked"`, `"parent":"` + parent.ID + `"`} {
			if !strings.Contains(string(r.Body), s) {
				t.Errorf("alice's credentials: want %s in %s", s, r.Body)
			}
		}
		if r := e.call(t, "GET", "/admin/users/root/credentials", ops, ""); !strings.Contains(string(r.Body), `"admin":true`) {
			t.Errorf("root's credentials: want the admin flag in %s", r.Body)
		}
	})
}

// TestDeleteClientCascades: an administrator's deletion of a client made
// to create credentials deletes the client and revokes the key its access
// token made; the credentials list shows the flag and the parent links
// before.
func TestDeleteClientCascades(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.user(t, "root", []string{"orders"}, "ADMIN")
		e.user(t, "alice", []string{"orders"}, "MANAGE_USER_API_KEY")
		ops := e.adminKey(t, "root", "ops")
		ctx := t.Context()
		_, prov, err := e.svc.OAuth.CreateClient(ctx, "alice", authz.ClientSpec{CreatesCredentials: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.OAuth.ClientCredentialsGrant(ctx, prov, nil); err != nil {
			t.Fatal(err)
		}
		creds, err := e.svc.Accounts.Credentials(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(creds, func(c authz.Credential) bool { return c.Kind == authz.KindAccessToken })
		if i < 0 {
			t.Fatalf("alice has no access token")
		}
		access := creds[i].ID
		_, made, err := e.svc.OAuth.CreateClient(ctx, "alice", authz.ClientSpec{CreatedBy: access})
		if err != nil {
			t.Fatal(err)
		}
		keyTok, _ := e.createKey(t, "alice", authz.KeySpec{Handle: "made", CreatedBy: access})
		r := e.call(t, "GET", "/admin/users/alice/credentials", ops, "")
		for _, s := range []string{`"clientId":"` + prov.ID + `"`, `"createsCredentials":true`, `"parent":"` + prov.ID + `"`} {
			if !strings.Contains(string(r.Body), s) {
				t.Errorf("alice's credentials: want %s in %s", s, r.Body)
			}
		}
		want(t, "delete the client", e.call(t, "DELETE", "/admin/clients/"+prov.ID, ops, ""), 204)
		e.waitProxied(t, "the key made by the deleted client's token", bearer(keyTok), 401)
		if _, err := e.svc.OAuth.GetClient(ctx, "alice", made.ID); !errors.Is(err, authz.ErrNotFound) {
			t.Errorf("the client made by the deleted client's token: %v, want ErrNotFound", err)
		}
	})
}
