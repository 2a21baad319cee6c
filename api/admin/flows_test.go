package admin_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/redistest"
)

// credentialsOf is GET /admin/users/{name}/credentials, decoded.
type credentialsOf struct {
	User        string       `json:"user"`
	Credentials []credential `json:"credentials"`
	Clients     []struct {
		ClientID string `json:"clientId"`
	} `json:"clients"`
}

type credential struct {
	ID       string   `json:"id"`
	Kind     string   `json:"kind"`
	Handle   string   `json:"handle"`
	Status   string   `json:"status"`
	APISets  []string `json:"apiSets"`
	Failures *int64   `json:"failures"`
}

// find returns the listed credential that matches, failing the test if
// there is none.
func (c credentialsOf) find(t *testing.T, match func(credential) bool) credential {
	t.Helper()
	i := slices.IndexFunc(c.Credentials, match)
	if i < 0 {
		t.Fatalf("no such credential in %+v", c)
	}
	return c.Credentials[i]
}

func (e *env) credentials(t *testing.T, authorization, user string) credentialsOf {
	t.Helper()
	r := e.call(t, "GET", "/admin/users/"+user+"/credentials", authorization, "")
	want(t, "GET credentials of "+user, r, 200)
	var c credentialsOf
	if err := json.Unmarshal(r.Body, &c); err != nil {
		t.Fatalf("credentials: %v: %s", err, r.Body)
	}
	for _, secret := range []string{"kgl_", "kgt_", "kga_", "kgr_", "kgs_", "kgk_", "digest", "sealed"} {
		if strings.Contains(string(r.Body), secret) {
			t.Errorf("the credentials list holds %q: %s", secret, r.Body)
		}
	}
	return c
}

// TestRevoke: a credential revoked through the admin API is refused on a
// proxied route, and listed as revoked.
func TestRevoke(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.user(t, "alice", []string{"orders"})
		token := e.key(t, "alice", "ci")
		other := e.key(t, "alice", "other")
		if got := e.proxied(t, token); got != 200 {
			t.Fatalf("the key before revocation: %d", got)
		}
		if _, _, err := e.svc.OAuth.CreateClient(t.Context(), "alice", authz.ClientSpec{Description: "reports"}); err != nil {
			t.Fatal(err)
		}
		c := e.credentials(t, bearer(adminToken), "alice")
		ci := c.find(t, func(x credential) bool { return x.Handle == "ci" })
		if c.User != "alice" || len(c.Credentials) != 2 || ci.Status != "active" || ci.Kind != "key_token" || len(c.Clients) != 1 {
			t.Fatalf("alice's credentials: %+v", c)
		}
		id := ci.ID

		r := e.call(t, "DELETE", "/admin/credentials/"+id, bearer(adminToken), "")
		want(t, "revoke", r, 204)
		e.waitProxied(t, "revoked key", token, 401)
		if got := e.proxied(t, other); got != 200 {
			t.Errorf("another key of alice after the revocation: %d, want 200", got)
		}
		wantFields(t, e.audit(t, "revoke", 1)[0], map[string]string{"actor": "<admin token>", "target": id, "user": "alice", "kind": "key_token"})
		c = e.credentials(t, bearer(adminToken), "alice")
		if got := c.find(t, func(x credential) bool { return x.ID == id }); got.Status != "revoked" {
			t.Errorf("revoked credential listed as %q, want revoked", got.Status)
		}
		want(t, "revoke again", e.call(t, "DELETE", "/admin/credentials/"+id, bearer(adminToken), ""), 204)
		wantError(t, "unknown credential", e.call(t, "DELETE", "/admin/credentials/cred_nope", bearer(adminToken), ""), 404, "not_found")
		wantError(t, "unknown user's credentials", e.call(t, "GET", "/admin/users/nobody/credentials", bearer(adminToken), ""), 404, "not_found")
		e.noSecrets(t, adminToken, token, other)
	})
}

// TestUnvoid (seed 004): after three wrong ApiKey tokens even the right
// one is refused; unvoided through the admin API, it works again.
func TestUnvoid(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.user(t, "alice", []string{"orders"})
		key, token, err := e.svc.Accounts.NewAPIKeyToken(t.Context(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		right := "ApiKey " + key + ":" + token
		wrong := "ApiKey " + key + ":" + authz.NewToken(authz.KindAPIKey) // well-formed, not the token
		if got := e.proxied(t, right); got != 200 {
			t.Fatalf("the right token: %d", got)
		}
		for range 3 {
			if got := e.proxied(t, wrong); got != 401 {
				t.Fatalf("a wrong token: %d, want 401", got)
			}
		}
		e.waitProxied(t, "the right token after three wrong ones", right, 401)
		c := e.credentials(t, bearer(adminToken), "alice")
		if len(c.Credentials) != 1 || c.Credentials[0].Kind != "apikey" || c.Credentials[0].Status != "voided" || c.Credentials[0].Failures == nil || *c.Credentials[0].Failures != 3 {
			t.Errorf("the voided ApiKey in the credentials list: %+v", c)
		}

		want(t, "unvoid", e.call(t, "POST", "/admin/users/alice/apikey/unvoid", bearer(adminToken), ""), 204)
		e.waitProxied(t, "the right token after unvoid", right, 200)
		wantFields(t, e.audit(t, "unvoid", 1)[0], map[string]string{"actor": "<admin token>", "user": "alice", "target": c.Credentials[0].ID})
		if c := e.credentials(t, bearer(adminToken), "alice"); c.Credentials[0].Status != "active" || *c.Credentials[0].Failures != 0 {
			t.Errorf("the ApiKey after unvoid: %+v", c)
		}
		e.user(t, "bob", []string{"orders"})
		wantError(t, "unvoid without an ApiKey", e.call(t, "POST", "/admin/users/bob/apikey/unvoid", bearer(adminToken), ""), 404, "not_found")
		e.noSecrets(t, adminToken, key, token)
	})
}

// TestDisable: a disabled user's credentials are refused on the proxied
// route; enabled again, they work.
func TestDisable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.user(t, "root", nil, "ADMIN")
		root := e.adminKey(t, "root", "ops")
		e.user(t, "alice", []string{"orders"})
		token := e.key(t, "alice", "ci")
		if got := e.proxied(t, token); got != 200 {
			t.Fatalf("alice's key: %d", got)
		}
		r := e.call(t, "PATCH", "/admin/users/alice", root, `{"disabled": true}`)
		want(t, "disable", r, 200)
		if r.JSON(t)["disabled"] != true {
			t.Errorf("disabled user: %s", r.Body)
		}
		e.waitProxied(t, "a disabled user's key", token, 401)
		wantFields(t, e.audit(t, "disable_user", 1)[0], map[string]string{"actor": "root", "actor_auth": "key_token", "user": "alice"})

		want(t, "enable", e.call(t, "PATCH", "/admin/users/alice", root, `{"disabled": false}`), 200)
		e.waitProxied(t, "an enabled user's key", token, 200)
		e.audit(t, "enable_user", 1)

		// Narrowing a user's API sets narrows their credentials.
		want(t, "narrow", e.call(t, "PATCH", "/admin/users/alice", root, `{"apiSets": []}`), 200)
		e.waitProxied(t, "a key of a user without the route's API set", token, 403)
		e.noSecrets(t, root, token)
	})
}

// TestInput: bodies, paths and methods are checked as on the self-service
// API, every 400 naming the field, and a request that fails creates
// nothing.
func TestInput(t *testing.T) {
	e := newEnv(t, "embedded", adminToken)
	e.user(t, "alice", []string{"orders"})
	admin := bearer(adminToken)
	big := `{"name": "big", "apiSets": ["` + strings.Repeat("x", 70<<10) + `"]}`
	tests := []struct {
		name, method, path, ctype, body string
		status                          int
		code, description               string
	}{
		{"unknown field", "POST", "/admin/users", "application/json", `{"name": "k", "admin": true}`, 400, "invalid_request", `unknown field "admin"`},
		{"wrong type", "POST", "/admin/users", "application/json", `{"name": 7}`, 400, "invalid_request", "name: must be a string"},
		{"missing name", "POST", "/admin/users", "application/json", `{}`, 400, "invalid_request", "name: required: 1 to 64 of letters, digits, _ . @ -"},
		{"bad API set", "POST", "/admin/users", "application/json", `{"name": "k", "apiSets": ["a b"]}`, 400, "invalid_request", `apiSets[0]: "a b" is not a valid name`},
		{"bad authority", "POST", "/admin/users", "application/json", `{"name": "k", "authorities": ["ROOT"]}`, 400, "invalid_request", `authorities[0]: "ROOT" is not one of ADMIN, MANAGE_USER_API_KEY`},
		{"authority twice", "PATCH", "/admin/users/alice", "application/json", `{"authorities": ["ADMIN", "ADMIN"]}`, 400, "invalid_request", `authorities[1]: "ADMIN" is listed twice`},
		{"short password", "POST", "/admin/users", "application/json", `{"name": "k", "password": "short"}`, 400, "invalid_request", "password: must be 8 to 256 bytes"},
		{"empty password", "PUT", "/admin/users/alice/password", "application/json", `{"password": ""}`, 400, "invalid_request", "password: required"},
		{"short password, PUT", "PUT", "/admin/users/alice/password", "application/json", `{"password": "short"}`, 400, "invalid_request", "password: must be 8 to 256 bytes"},
		{"user exists", "POST", "/admin/users", "application/json", `{"name": "alice"}`, 409, "conflict", "A user with this name already exists."},
		{"nothing to change", "PATCH", "/admin/users/alice", "application/json", `{}`, 400, "invalid_request", "The request changes nothing: give disabled, apiSets, scopes, authorities or rateLimit."},
		{"bad scope", "PATCH", "/admin/users/alice", "application/json", `{"scopes": ["READ"]}`, 400, "invalid_request", `scopes[0]: "READ" is not a valid name`},
		{"change unknown user", "PATCH", "/admin/users/nobody", "application/json", `{"disabled": true}`, 404, "not_found", "No such resource."},
		{"password of unknown user", "PUT", "/admin/users/nobody/password", "application/json", `{"password": "long-enough-1"}`, 404, "not_found", "No such resource."},
		{"no body", "POST", "/admin/users", "application/json", ``, 400, "invalid_request", "A JSON request body is required."},
		{"wrong content type", "POST", "/admin/users", "text/plain", `{"name": "k"}`, 415, "unsupported_media_type", "Content-Type must be application/json."},
		{"merge patch", "PATCH", "/admin/users/alice", "application/merge-patch+json", `{"disabled": true}`, 415, "unsupported_media_type", "Content-Type must be application/json."},
		{"body on unvoid", "POST", "/admin/users/alice/apikey/unvoid", "application/json", `{"force": true}`, 400, "invalid_request", `unknown field "force"`},
		{"too large", "POST", "/admin/users", "application/json", big, 413, "request_too_large", "The request body is larger than 64 KiB."},
		{"two values", "POST", "/admin/users", "application/json", `{"name": "a"} {"name": "b"}`, 400, "invalid_request", "The request body must hold one JSON object and nothing after it."},
		{"unknown path", "GET", "/admin/nothing", "", "", 404, "not_found", "No such resource."},
		{"the root", "GET", "/admin", "", "", 404, "not_found", "No such resource."},
		{"encoded path", "GET", "/admin/users/%61lice", "", "", 400, "invalid_request", "The request path is not allowed."},
		{"dot segment", "GET", "/admin/users/./alice", "", "", 400, "invalid_request", "The request path is not allowed."},
		{"wrong method", "DELETE", "/admin/users/alice", "", "", 405, "method_not_allowed", "The resource does not serve this method."},
		{"unknown user", "GET", "/admin/users/nobody", "", "", 404, "not_found", "No such resource."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.callWith(t, tt.method, tt.path, admin, tt.ctype, tt.body)
			if d := wantError(t, tt.method+" "+tt.path, r, tt.status, tt.code); d != tt.description && r.Status == tt.status {
				t.Errorf("error_description %q, want %q", d, tt.description)
			}
			if r.Header.Get("X-Request-Id") == "" {
				t.Errorf("no X-Request-Id")
			}
		})
	}
	if r := e.call(t, "DELETE", "/admin/users/alice", admin, ""); r.Header.Get("Allow") != "GET, HEAD, PATCH" {
		t.Errorf("405 Allow %q, want GET, HEAD, PATCH", r.Header.Get("Allow"))
	}
	// Nothing was created or changed by the failed requests.
	r := e.call(t, "GET", "/admin/users", admin, "")
	if strings.Count(string(r.Body), `"name"`) != 1 || strings.Contains(string(r.Body), `"disabled":true`) || strings.Contains(string(r.Body), "ADMIN") {
		t.Errorf("users after failed requests: %s, want alice alone, unchanged", r.Body)
	}
	if n := e.adminAudit().Len(); n != 0 {
		t.Errorf("%d audit lines after failed requests, want none", n)
	}
}

// TestStoreDown: while the store cannot be reached the admin API answers
// 503 with Retry-After, never 401 or 403.
func TestStoreDown(t *testing.T) {
	srv := redistest.Start(t)
	e := startEnv(t, fmt.Sprintf("store: {driver: redis, redis: {addrs: [%q], key_prefix: %q, dial_timeout: 1s}}", srv.Addr(), redistest.Prefix(t)), adminToken)
	e.user(t, "root", []string{"orders"}, "ADMIN")
	root := e.adminKey(t, "root", "ops")
	srv.Stop()
	for _, c := range []struct{ name, authorization string }{{"token", bearer(adminToken)}, {"uncached key", root}} {
		r := e.call(t, "GET", "/admin/users", c.authorization, "")
		wantError(t, c.name+", store down", r, http.StatusServiceUnavailable, "temporarily_unavailable")
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("%s, store down: no Retry-After", c.name)
		}
	}
}

// TestDeleteClient: an administrator deletes any user's OAuth client, and
// the access tokens it obtained stop working on the proxied route.
func TestDeleteClient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.user(t, "carl", []string{"orders"})
		_, c, err := e.svc.OAuth.CreateClient(t.Context(), "carl", authz.ClientSpec{})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := e.svc.OAuth.ClientCredentialsGrant(t.Context(), c, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.proxied(t, bearer(tr.AccessToken)); got != 200 {
			t.Fatalf("access token before the delete: %d", got)
		}
		want(t, "delete client", e.call(t, "DELETE", "/admin/clients/"+c.ID, bearer(adminToken), ""), 204)
		e.waitProxied(t, "token of a deleted client", bearer(tr.AccessToken), 401)
		wantFields(t, e.audit(t, "delete_client", 1)[0], map[string]string{"actor": "<admin token>", "target": c.ID, "user": "carl"})
		wantError(t, "unknown client", e.call(t, "DELETE", "/admin/clients/nope", bearer(adminToken), ""), 404, "not_found")
		e.noSecrets(t, tr.AccessToken)
	})
}
