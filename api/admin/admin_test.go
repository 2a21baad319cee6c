package admin_test

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

var netipLoopback = netip.MustParseAddr("127.0.0.1")

// TestBootstrapToken: with only the bootstrap token, an operator creates
// the first administrator (with a password), who then works without the
// token; every change is audited with its actor and no secret.
func TestBootstrapToken(t *testing.T) {
	forEachAPIBackend(t, func(t *testing.T, e *env) {
		const password = "root-password-1"
		r := e.call(t, "POST", "/admin/users", bearer(adminToken),
			`{"name": "root", "authorities": ["ADMIN"], "apiSets": ["orders"], "password": "`+password+`"}`)
		want(t, "create the first admin with the token", r, 201)
		if loc := r.Header.Get("Location"); loc != "/admin/users/root" {
			t.Errorf("Location %q, want /admin/users/root", loc)
		}
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", cc)
		}
		var u struct {
			Name        string   `json:"name"`
			Authorities []string `json:"authorities"`
			APISets     []string `json:"apiSets"`
			Scopes      []string `json:"scopes"`
			Disabled    bool     `json:"disabled"`
		}
		if err := json.Unmarshal(r.Body, &u); err != nil || u.Name != "root" || !slices.Equal(u.Authorities, []string{"ADMIN"}) ||
			!slices.Equal(u.APISets, []string{"orders"}) || !slices.Equal(u.Scopes, []string{"read", "write"}) || u.Disabled {
			t.Errorf("created user: %s (scopes default to read, write)", r.Body)
		}
		if strings.Contains(string(r.Body), password) {
			t.Errorf("the answer holds the password: %s", r.Body)
		}
		wantFields(t, e.audit(t, "create_user", 1)[0], map[string]string{"actor": "<admin token>", "actor_auth": "admin_token", "user": "root"})
		wantFields(t, e.audit(t, "set_password", 1)[0], map[string]string{"actor": "<admin token>", "user": "root"})

		// The new administrator signs in with the password and manages users.
		root := basic("root", password)
		want(t, "create a user as root", e.call(t, "POST", "/admin/users", root, `{"name": "alice@example.com", "apiSets": ["orders"], "scopes": ["read"]}`), 201)
		r = e.call(t, "GET", "/admin/users/alice@example.com", root, "")
		want(t, "show a user whose name holds @", r, 200)
		if m := r.JSON(t); m["name"] != "alice@example.com" || len(m["scopes"].([]any)) != 1 {
			t.Errorf("show user: %s", r.Body)
		}
		r = e.call(t, "GET", "/admin/users", root, "")
		want(t, "list users", r, 200)
		var list struct {
			Users []struct{ Name string } `json:"users"`
		}
		if err := json.Unmarshal(r.Body, &list); err != nil || len(list.Users) != 2 || list.Users[0].Name != "alice@example.com" || list.Users[1].Name != "root" {
			t.Errorf("users, by name: %s", r.Body)
		}
		wantFields(t, e.audit(t, "create_user", 2)[1], map[string]string{"actor": "root", "actor_auth": "password", "user": "alice@example.com"})
		e.noSecrets(t, adminToken, password)
	})
}

// TestAdminCredential: an ADMIN user's key made for administration
// manages users (the ApiKey pair, not made for it, is refused); one
// without the write scope may only look.
func TestAdminCredential(t *testing.T) {
	forEachAPIBackend(t, func(t *testing.T, e *env) {
		e.user(t, "root", []string{"orders"}, "ADMIN")
		key := e.adminKey(t, "root", "ops")
		apiKey, apiToken, err := e.svc.Accounts.NewAPIKeyToken(t.Context(), "root")
		if err != nil {
			t.Fatal(err)
		}
		pair := "ApiKey " + apiKey + ":" + apiToken

		want(t, "create with a key token", e.call(t, "POST", "/admin/users", key, `{"name": "bob", "apiSets": ["orders"], "authorities": ["MANAGE_USER_API_KEY"]}`), 201)
		lines := e.audit(t, "create_user", 1)
		keyID, _ := lines[0].ContextMap()["actor_credential_id"].(string)
		wantFields(t, lines[0], map[string]string{"actor": "root", "actor_auth": "key_token", "user": "bob"})
		if !strings.HasPrefix(keyID, "cred_") {
			t.Errorf("audit line without the actor's credential id: %v", lines[0].ContextMap())
		}
		wantError(t, "change with the ApiKey pair", e.call(t, "PATCH", "/admin/users/bob", pair, `{"scopes": ["read"], "authorities": []}`), 403, "forbidden")
		r := e.call(t, "PATCH", "/admin/users/bob", key, `{"scopes": ["read"], "authorities": []}`)
		want(t, "change with the admin key", r, 200)
		if m := r.JSON(t); len(m["scopes"].([]any)) != 1 || len(m["authorities"].([]any)) != 0 {
			t.Errorf("changed user: %s", r.Body)
		}
		wantFields(t, e.audit(t, "update_user", 1)[0], map[string]string{"actor": "root", "actor_auth": "key_token", "user": "bob"})

		readOnly := e.adminKey(t, "root", "look", "read")
		want(t, "a read-only key lists", e.call(t, "GET", "/admin/users", readOnly, ""), 200)
		r = e.call(t, "POST", "/admin/users", readOnly, `{"name": "carol"}`)
		wantError(t, "a read-only key creates", r, 403, "insufficient_scope")
		wantError(t, "carol was not created", e.call(t, "GET", "/admin/users/carol", key, ""), 404, "not_found")

		// The password, set by an administrator, signs bob in to the
		// self-service and admin APIs alike; he is no administrator.
		want(t, "set bob's password", e.call(t, "PUT", "/admin/users/bob/password", key, `{"password": "bob-password-1"}`), 204)
		wantFields(t, e.audit(t, "set_password", 1)[0], map[string]string{"actor": "root", "user": "bob"})
		if _, err := e.svc.Passwords.CheckPassword(t.Context(), "bob", "bob-password-1", netipLoopback); err != nil {
			t.Errorf("bob's password does not work: %v", err)
		}
		wantError(t, "bob's password on the admin API", e.call(t, "GET", "/admin/users", basic("bob", "bob-password-1"), ""), 403, "forbidden")
		e.noSecrets(t, key, readOnly, apiKey, apiToken, "bob-password-1")
	})
}

// TestNotAdmin: valid credentials of a user without the ADMIN authority
// get 403 on every route; missing or wrong ones 401; a malformed header
// 400.
func TestNotAdmin(t *testing.T) {
	e := newAPI(t, "embedded", adminToken)
	e.user(t, "alice", []string{"orders"}, "MANAGE_USER_API_KEY")
	alice := e.key(t, "alice", "k")
	wrongToken := strings.Repeat("x", len(adminToken))
	for _, rt := range []struct{ method, path, body string }{
		{"GET", "/admin/users", ""},
		{"POST", "/admin/users", `{"name": "mallory", "authorities": ["ADMIN"]}`},
		{"GET", "/admin/users/alice", ""},
		{"PATCH", "/admin/users/alice", `{"authorities": ["ADMIN"]}`},
		{"PUT", "/admin/users/alice/password", `{"password": "whatever-it-is"}`},
		{"GET", "/admin/users/alice/credentials", ""},
		{"POST", "/admin/users/alice/apikey/unvoid", ""},
		{"DELETE", "/admin/credentials/cred_aaaa", ""},
	} {
		what := rt.method + " " + rt.path
		someone := "u" + strings.NewReplacer("/", "-", "{", "", "}", "").Replace(rt.path) + "-" + rt.method
		wantError(t, what+" as a non-admin", e.call(t, rt.method, rt.path, alice, rt.body), 403, "forbidden")
		r := e.call(t, rt.method, rt.path, "", rt.body)
		wantError(t, what+" without credentials", r, 401, "unauthorized")
		if ch := strings.Join(r.Header.Values("Www-Authenticate"), ", "); !strings.Contains(ch, `Bearer realm="keygate"`) || !strings.Contains(ch, `Basic realm="keygate"`) {
			t.Errorf("%s without credentials: WWW-Authenticate %q", what, ch)
		}
		wantError(t, what+" with a wrong token", e.call(t, rt.method, rt.path, bearer(wrongToken), rt.body), 401, "invalid_token")
		wantError(t, what+" with a wrong password", e.call(t, rt.method, rt.path, basic(someone, "not-the-password"), rt.body), 401, "unauthorized")
	}
	// Wrong passwords are limited per user, as on the self-service API
	// (self_service.max_password_failures_per_user is 5 here).
	for range 5 {
		wantError(t, "a wrong password for alice", e.call(t, "GET", "/admin/users", basic("alice", "not-her-password"), ""), 401, "unauthorized")
	}
	r := e.call(t, "GET", "/admin/users", basic("alice", "not-her-password"), "")
	if wantError(t, "too many wrong passwords for alice", r, 429, "too_many_requests"); r.Header.Get("Retry-After") != "900" {
		t.Errorf("Retry-After %q, want 900 (the failure window)", r.Header.Get("Retry-After"))
	}
	wantError(t, "malformed Authorization", e.call(t, "GET", "/admin/users", "Bearer a b", ""), 400, "invalid_request")
	wantError(t, "the token as Basic", e.call(t, "GET", "/admin/users", basic("admin", adminToken), ""), 401, "unauthorized")
	if u, err := e.svc.Accounts.GetUser(t.Context(), "alice"); err != nil || slices.Contains(u.Authorities, "ADMIN") {
		t.Errorf("alice after the refused requests: %+v, %v", u, err)
	}
	if n := e.adminAudit().Len(); n != 0 {
		t.Errorf("%d audit lines after refused requests, want none", n)
	}
}

// TestFailClosed: without a bootstrap token and without an ADMIN user,
// every route answers 401 (a weak token is not used, and says so at
// start); the OpenAPI document stays readable.
func TestFailClosed(t *testing.T) {
	for _, tc := range []struct {
		name, token, warning string
		try                  []string // Authorization headers that must not get in
	}{
		{"no token", "", "", []string{"", bearer(adminToken)}},
		{"short token", "too-short-a-token", "KEYGATE_ADMIN_TOKEN is shorter than 32 bytes and is NOT used", []string{"", bearer("too-short-a-token")}},
		{"unsendable token", strings.Repeat("a b", 20), "KEYGATE_ADMIN_TOKEN holds characters a Bearer token cannot carry", []string{"", bearer("a")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAPI(t, "embedded", tc.token)
			if tc.warning != "" && e.logs.FilterMessageSnippet(tc.warning).Len() != 1 {
				t.Errorf("no warning %q at start", tc.warning)
			}
			for _, rt := range []struct{ method, path string }{
				{"GET", "/admin/users"}, {"POST", "/admin/users"}, {"GET", "/admin/users/root"}, {"PATCH", "/admin/users/root"},
				{"PUT", "/admin/users/root/password"}, {"GET", "/admin/users/root/credentials"},
				{"POST", "/admin/users/root/apikey/unvoid"}, {"DELETE", "/admin/credentials/cred_aaaa"},
			} {
				for _, authorization := range tc.try {
					r := e.call(t, rt.method, rt.path, authorization, `{"name": "root", "authorities": ["ADMIN"]}`)
					if r.Status != 401 {
						t.Errorf("%s %s with %q: %s, want 401", rt.method, rt.path, authorization, r)
					}
				}
			}
			if _, err := e.svc.Accounts.GetUser(t.Context(), "root"); err == nil {
				t.Error("a user was created without an administrator")
			}
			want(t, "the OpenAPI document", e.call(t, "GET", "/admin/openapi.json", "", ""), 200)
		})
	}
}
