package selfservice_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/testkit"
)

// TestNamedKeys walks seeds 002 and 003 over HTTP: create a key with a
// handle and API sets (201, the token once), download it as a .APIKEY
// file, authenticate with it (GET /user), use it on routes of its API set
// (200) and of another (403), list and show keys without tokens, and
// delete it (its token is refused).
func TestNamedKeys(t *testing.T) {
	forEachBackend(t, "", func(t *testing.T, e *env) {
		alice := e.user(t, "alice", []string{"orders", "billing"}, []string{"read", "write"}, "MANAGE_USER_API_KEY")

		expires := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
		r := e.postJSON(t, "/user/keys", alice, `{"handle": "ci", "alias": "CI", "description": "the build", "apiSets": ["orders"], "scopes": ["read"], "expiresAt": "`+expires+`"}`)
		want(t, "POST /user/keys", r, 201)
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", r.Header.Get("Cache-Control"))
		}
		var created struct {
			Handle, Alias, Description, Token, Usage, ID string
			APISets                                      []string
			Scopes                                       []string
			Created, ExpiresAt                           time.Time
		}
		if err := json.Unmarshal(r.Body, &created); err != nil {
			t.Fatal(err)
		}
		if created.Handle != "ci" || created.Alias != "CI" || created.Description != "the build" || !strings.HasPrefix(created.Token, "kgl_") ||
			created.Usage != "Bearer "+created.Token || !strings.HasPrefix(created.ID, "cred_") ||
			strings.Join(created.APISets, ",") != "orders" || strings.Join(created.Scopes, ",") != "read" ||
			created.Created.IsZero() || created.ExpiresAt.Format(time.RFC3339) != expires {
			t.Errorf("created key: %s", r.Body)
		}
		// usage is the Authorization header's value, sent as it is (as
		// the ApiKey pair's).
		if r := e.call(t, "GET", "/orders/1", created.Usage, "", ""); r.Status != 200 {
			t.Errorf("the key's usage as the Authorization header: %s, want 200", r)
		}
		token := created.Token
		password := alice
		alice = "Bearer " + mustKey(t, e, "alice", "admin") // quicker than a password

		// Seed 003's validation step.
		r = e.call(t, "GET", "/user", "Bearer "+token, "", "")
		want(t, "GET /user with the key token", r, 200)
		var me struct {
			Name        string
			Authorities []string
			APISets     []string
			Credential  struct {
				Kind, ID string
				APISets  []string
			}
		}
		if err := json.Unmarshal(r.Body, &me); err != nil {
			t.Fatal(err)
		}
		if me.Name != "alice" || strings.Join(me.APISets, ",") != "orders,billing" || me.Credential.Kind != "key_token" ||
			me.Credential.ID != created.ID || strings.Join(me.Credential.APISets, ",") != "orders" {
			t.Errorf("GET /user: %s", r.Body)
		}
		if r := e.call(t, "GET", "/user", password, "", ""); r.Status != 200 || !strings.Contains(string(r.Body), `"kind":"password"`) {
			t.Errorf("GET /user with a password: %s", r)
		}

		// A key of API set A is refused on a route of API set B, and a
		// read key on a write method.
		if r := e.call(t, "GET", "/orders/1", "Bearer "+token, "", ""); r.Status != 200 {
			t.Errorf("key on its API set: %s", r)
		}
		if r := e.call(t, "GET", "/billing/1", "Bearer "+token, "", ""); r.Status != 403 || !strings.Contains(r.Header.Get("Www-Authenticate"), "insufficient_scope") {
			t.Errorf("key of API set orders on the billing route: %s, want 403 insufficient_scope", r)
		}
		if r := e.call(t, "POST", "/orders/1", "Bearer "+token, "", ""); r.Status != 403 {
			t.Errorf("read key on POST: %s, want 403", r)
		}

		// The read-only key may look but not change anything.
		wantError(t, "read-only credential creating a key", e.postJSON(t, "/user/keys", "Bearer "+token, `{"handle": "x"}`), 403, "insufficient_scope")
		if r := e.call(t, "GET", "/user/keys/ci", "Bearer "+token, "", ""); r.Status != 200 {
			t.Errorf("read-only credential showing a key: %s", r)
		}
		// A key is never broader than the credential that made it.
		wide := e.createKey(t, alice, `{"handle": "orders-rw", "apiSets": ["orders"]}`)
		r = e.postJSON(t, "/user/keys", "Bearer "+wide, `{"handle": "b", "apiSets": ["billing"]}`)
		if d := wantError(t, "key broader than the calling key", r, 400, "invalid_request"); !strings.HasPrefix(d, "apiSets[0]:") {
			t.Errorf("error_description %q, want it to name apiSets[0]", d)
		}
		r = e.postJSON(t, "/user/keys", "Bearer "+wide, `{"handle": "inherits"}`)
		want(t, "key made by a key, defaults", r, 201)
		if !strings.Contains(string(r.Body), `"apiSets":["orders"]`) {
			t.Errorf("a key made with an orders key should get orders only: %s", r.Body)
		}

		// Seed 002's Download.
		r = e.postJSON(t, "/user/keys?download=1", alice, `{"handle": "laptop"}`)
		want(t, "POST /user/keys?download=1", r, 201)
		if cd := r.Header.Get("Content-Disposition"); cd != `attachment; filename="laptop.APIKEY"` {
			t.Errorf("Content-Disposition %q", cd)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("download: Content-Type %q, Cache-Control %q", ct, r.Header.Get("Cache-Control"))
		}
		downloaded := strings.TrimSpace(string(r.Body))
		if r := e.call(t, "GET", "/user", "Bearer "+downloaded, "", ""); r.Status != 200 {
			t.Errorf("downloaded key: %s", r)
		}

		wantError(t, "same handle again", e.postJSON(t, "/user/keys", alice, `{"handle": "ci"}`), 409, "conflict")

		// List and show: never a token.
		r = e.call(t, "GET", "/user/keys", alice, "", "")
		want(t, "GET /user/keys", r, 200)
		var list struct {
			Keys []map[string]any `json:"keys"`
		}
		if err := json.Unmarshal(r.Body, &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Keys) != 5 || strings.Contains(string(r.Body), "kgl_") || strings.Contains(string(r.Body), `"token"`) {
			t.Errorf("key list (5 keys, no tokens): %s", r.Body)
		}
		r = e.call(t, "GET", "/user/keys/ci", alice, "", "")
		want(t, "GET /user/keys/ci", r, 200)
		if m := r.JSON(t); m["handle"] != "ci" || m["status"] != "active" || m["token"] != nil || m["id"] != created.ID {
			t.Errorf("show key: %s", r.Body)
		}
		wantError(t, "unknown handle", e.call(t, "GET", "/user/keys/nope", alice, "", ""), 404, "not_found")

		// Seed 003: the token works until its key is deleted.
		want(t, "DELETE /user/keys/ci", e.call(t, "DELETE", "/user/keys/ci", alice, "", ""), 204)
		if r := e.call(t, "GET", "/orders/1", "Bearer "+token, "", ""); r.Status != 401 {
			t.Errorf("token of a deleted key: %s, want 401", r)
		}
		wantError(t, "deleted key", e.call(t, "GET", "/user/keys/ci", alice, "", ""), 404, "not_found")
		wantError(t, "delete again", e.call(t, "DELETE", "/user/keys/ci", alice, "", ""), 404, "not_found")
		r = e.call(t, "GET", "/user/keys", alice, "", "")
		if strings.Contains(string(r.Body), `"handle":"ci"`) {
			t.Errorf("deleted key still listed: %s", r.Body)
		}
		// The handle is free again.
		e.createKey(t, alice, `{"handle": "ci"}`)
	})
}

// TestKeyAuthority: seed 002's rule, only MANAGE_USER_API_KEY or ADMIN
// may create keys; anyone may list and delete their own.
func TestKeyAuthority(t *testing.T) {
	forEachBackend(t, "", func(t *testing.T, e *env) {
		plain := e.user(t, "plain", []string{"orders"}, []string{"read", "write"})
		admin := e.user(t, "root", []string{"orders"}, []string{"read", "write"}, "ADMIN")
		r := e.postJSON(t, "/user/keys", plain, `{"handle": "k"}`)
		wantError(t, "user without MANAGE_USER_API_KEY", r, 403, "forbidden")
		if r := e.call(t, "GET", "/user/keys", plain, "", ""); r.Status != 200 || string(r.Body) != "{\"keys\":[]}\n" {
			t.Errorf("listing keys without the authority: %s", r)
		}
		e.createKey(t, admin, `{"handle": "k"}`)
		admin = "Bearer " + mustKey(t, e, "root", "admin") // quicker than a password
		// A failed request creates nothing.
		wantError(t, "bad expiresAt", e.postJSON(t, "/user/keys", admin, `{"handle": "bad", "expiresAt": "tomorrow"}`), 400, "invalid_request")
		wantError(t, "API set not granted", e.postJSON(t, "/user/keys", admin, `{"handle": "bad", "apiSets": ["billing"]}`), 400, "invalid_request")
		wantError(t, "expiry in the past", e.postJSON(t, "/user/keys", admin, `{"handle": "bad", "expiresAt": "2001-01-01T00:00:00Z"}`), 400, "invalid_request")
		wantError(t, "nothing was created", e.call(t, "GET", "/user/keys/bad", admin, "", ""), 404, "not_found")
		creds, err := e.svc.Accounts.Credentials(t.Context(), "root")
		if err != nil || len(creds) != 2 {
			t.Errorf("credentials of root after failed creates: %d, %v; want 2", len(creds), err)
		}
	})
}

// TestConcurrentCreates: of concurrent creates with one handle exactly one
// succeeds.
func TestConcurrentCreates(t *testing.T) {
	forEachBackend(t, "", func(t *testing.T, e *env) {
		e.user(t, "alice", []string{"orders"}, []string{"read", "write"}, "MANAGE_USER_API_KEY")
		bearer := "Bearer " + mustKey(t, e, "alice", "setup")
		const n = 8
		codes := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i] = e.postJSON(t, "/user/keys", bearer, `{"handle": "race"}`).Status
			}()
		}
		wg.Wait()
		created, conflicts := 0, 0
		for _, c := range codes {
			switch c {
			case 201:
				created++
			case 409:
				conflicts++
			}
		}
		if created != 1 || conflicts != n-1 {
			t.Errorf("concurrent creates with one handle: %v; want one 201 and %d 409", codes, n-1)
		}
	})
}

// mustKey makes a key in process (no password hashing: quicker).
func mustKey(t *testing.T, e *env, owner, handle string) string {
	t.Helper()
	tok, _, err := e.svc.Accounts.CreateKey(t.Context(), owner, keySpec(handle))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestAPIKey walks seed 004: the key never changes, each new token
// invalidates the earlier ones, wrong tokens are counted and void the
// token after three.
func TestAPIKey(t *testing.T) {
	forEachBackend(t, "", func(t *testing.T, e *env) {
		alice := e.user(t, "alice", []string{"orders"}, []string{"read", "write"})
		// No key until the first token (a read makes none).
		r := e.call(t, "GET", "/user/apikey", alice, "", "")
		wantError(t, "GET /user/apikey before any token", r, 404, "not_found")
		var view struct {
			Key      string
			Status   string
			Failures int64
			HasToken bool
		}
		r = e.call(t, "POST", "/user/apikey/token", alice, "", "")
		want(t, "POST /user/apikey/token", r, 200)
		if err := json.Unmarshal(r.Body, &view); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(view.Key, "kgk_") {
			t.Errorf("ApiKey's first token: %s", r.Body)
		}
		key := view.Key

		newToken := func() (string, string) {
			t.Helper()
			r := e.call(t, "POST", "/user/apikey/token", alice, "application/json", "")
			want(t, "POST /user/apikey/token", r, 200)
			var out struct{ Key, Token, Usage string }
			if err := json.Unmarshal(r.Body, &out); err != nil {
				t.Fatal(err)
			}
			if out.Key != key || out.Usage != "ApiKey "+key+":"+out.Token || r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("new token: %s (Cache-Control %q)", r.Body, r.Header.Get("Cache-Control"))
			}
			return out.Token, out.Usage
		}
		first, usage := newToken()
		if r := e.call(t, "GET", "/orders/1", usage, "", ""); r.Status != 200 {
			t.Fatalf("ApiKey pair on a route: %s", r)
		}
		second, usage2 := newToken()
		if first == second {
			t.Fatal("a new token equals the old one")
		}
		if r := e.call(t, "GET", "/orders/1", usage, "", ""); r.Status != 401 {
			t.Errorf("earlier token after a new one: %s, want 401", r)
		}
		// The wrong token above was a strike; it shows as a failure.
		poll := "Bearer " + mustKey(t, e, "alice", "poll")
		apikey := func(until func() bool) string {
			t.Helper()
			var r response
			testkit.Eventually(t, 2*time.Second, "GET /user/apikey shows the change", func() bool {
				r = e.call(t, "GET", "/user/apikey", poll, "", "")
				view = struct {
					Key      string
					Status   string
					Failures int64
					HasToken bool
				}{}
				if err := json.Unmarshal(r.Body, &view); err != nil {
					t.Fatal(err)
				}
				return until()
			})
			return string(r.Body)
		}
		if body := apikey(func() bool { return view.Failures == 1 }); view.Failures != 1 || view.Status != "active" || !view.HasToken || view.Key != key {
			t.Errorf("after one wrong token: %s, want failures 1, active", body)
		}
		// A right token resets the count.
		if r := e.call(t, "GET", "/user", usage2, "", ""); r.Status != 200 || !strings.Contains(string(r.Body), `"kind":"apikey"`) {
			t.Errorf("GET /user with the ApiKey pair: %s", r)
		}
		if body := apikey(func() bool { return view.Failures == 0 }); view.Failures != 0 {
			t.Errorf("after a right token: %s, want failures 0", body)
		}
		e.wrongTokens(t, key, first)
		if body := apikey(func() bool { return view.Status == "voided" }); view.Status != "voided" {
			t.Errorf("after three wrong tokens: %s, want voided", body)
		}
		if r := e.call(t, "GET", "/orders/1", usage2, "", ""); r.Status != 401 {
			t.Errorf("right token of a voided key: %s, want 401", r)
		}
		// A new token works again.
		_, usage3 := newToken()
		if r := e.call(t, "GET", "/orders/1", usage3, "", ""); r.Status != 200 {
			t.Errorf("new token after a void: %s", r)
		}
	})
}
