package selfservice_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/keygate/keygate/authz"
)

// TestAPIKeyShownOnlyToTokenMakers holds the rule for the ApiKey key,
// which is a secret (whoever knows it can void the token): it is shown,
// its token generated and the key rotated only for a caller who could
// generate the token — the password, or a credential that carries all of
// the user's API sets and scopes, and write.
func TestAPIKeyShownOnlyToTokenMakers(t *testing.T) {
	forEachBackend(t, "", func(t *testing.T, e *env) {
		alice := e.user(t, "alice", []string{"orders", "billing"}, []string{"read", "write"})
		if r := e.call(t, "POST", "/user/apikey/token", alice, "", ""); r.Status != 200 {
			t.Fatalf("POST /user/apikey/token with the password: %s", r)
		}
		key := func(spec authz.KeySpec) string {
			t.Helper()
			tok, _, err := e.svc.Accounts.CreateKey(t.Context(), "alice", spec)
			if err != nil {
				t.Fatal(err)
			}
			return "Bearer " + tok
		}
		full := key(authz.KeySpec{Handle: "full"})
		oneSet := key(authz.KeySpec{Handle: "orders-ro", APISets: []string{"orders"}, Scopes: []string{"read"}})
		readOnly := key(authz.KeySpec{Handle: "all-ro", APISets: []string{"orders", "billing"}, Scopes: []string{"read"}})
		oneSetWrite := key(authz.KeySpec{Handle: "orders-rw", APISets: []string{"orders"}, Scopes: []string{"read", "write"}})

		for _, tc := range []struct {
			name, auth string
			status     int
			lacks      string // in the 403's description
			writes     bool   // carries write (a POST without it is refused earlier, in general terms)
		}{
			{"password", alice, 200, "", true},
			{"credential with the full grant and write", full, 200, "", true},
			{"read-only key for one API set", oneSet, 403, `API set "billing"`, false},
			{"read-only key for every API set", readOnly, 403, `scope "write"`, false},
			{"read-write key for one API set", oneSetWrite, 403, `API set "billing"`, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for _, call := range []struct{ method, path string }{
					{"GET", "/user/apikey"},
					{"POST", "/user/apikey/token"},
					{"POST", "/user/apikey/rotate"},
				} {
					r := e.call(t, call.method, call.path, tc.auth, "", "")
					what := call.method + " " + call.path
					if tc.status == 200 {
						want(t, what, r, 200)
						if !strings.Contains(string(r.Body), `"key":"kgk_`) {
							t.Errorf("%s: got %s, want the key", what, r)
						}
						continue
					}
					desc := wantError(t, what, r, tc.status, "insufficient_scope")
					if (call.method == "GET" || tc.writes) && (!strings.Contains(desc, "ApiKey key") || !strings.Contains(desc, tc.lacks)) {
						t.Errorf("%s: description %q, want it to explain the ApiKey rule and name %s", what, desc, tc.lacks)
					}
					if strings.Contains(string(r.Body), "kgk_") {
						t.Errorf("%s: the refusal shows a key: %s", what, r.Body)
					}
				}
			})
		}
	})
}

// TestAPIKeyReadCreatesNothing: reading the ApiKey before any token
// answers 404 and makes no key; generating a token makes it.
func TestAPIKeyReadCreatesNothing(t *testing.T) {
	forEachBackend(t, "", func(t *testing.T, e *env) {
		alice := e.user(t, "alice", []string{"orders"}, []string{"read", "write"})
		for range 2 {
			r := e.call(t, "GET", "/user/apikey", alice, "", "")
			if desc := wantError(t, "GET /user/apikey before any token", r, 404, "not_found"); !strings.Contains(desc, "POST /user/apikey/token") {
				t.Errorf("404 description %q, want it to say how the key is made", desc)
			}
		}
		if _, _, err := e.svc.Accounts.ShowAPIKey(t.Context(), "alice"); !errors.Is(err, authz.ErrNoAPIKey) {
			t.Fatalf("after two reads: ShowAPIKey error %v, want ErrNoAPIKey (a read made a key)", err)
		}
		r := e.call(t, "POST", "/user/apikey/rotate", alice, "", "")
		wantError(t, "POST /user/apikey/rotate before any token", r, 404, "not_found")
		r = e.call(t, "POST", "/user/apikey/token", alice, "", "")
		want(t, "POST /user/apikey/token", r, 200)
		var made struct{ Key string }
		if err := json.Unmarshal(r.Body, &made); err != nil {
			t.Fatal(err)
		}
		r = e.call(t, "GET", "/user/apikey", alice, "", "")
		want(t, "GET /user/apikey after a token", r, 200)
		if got := r.JSON(t)["key"]; got != made.Key {
			t.Errorf("GET /user/apikey key %v, want %q", got, made.Key)
		}
	})
}

// TestAPIKeyRotate: rotating gives a new key and token; the old pair is
// refused everywhere at once, wrong tokens with the old key cannot void the
// new pair, and the void rule holds for the new pair.
func TestAPIKeyRotate(t *testing.T) {
	forEachBackend(t, "", func(t *testing.T, e *env) {
		alice := e.user(t, "alice", []string{"orders"}, []string{"read", "write"})
		pair := func(r response) (key, token, usage string) {
			t.Helper()
			var out struct{ Key, Token, Usage string }
			if err := json.Unmarshal(r.Body, &out); err != nil {
				t.Fatalf("%s: %v", r, err)
			}
			if out.Usage != "ApiKey "+out.Key+":"+out.Token || r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("pair %s (Cache-Control %q)", r.Body, r.Header.Get("Cache-Control"))
			}
			return out.Key, out.Token, out.Usage
		}
		r := e.call(t, "POST", "/user/apikey/token", alice, "", "")
		want(t, "POST /user/apikey/token", r, 200)
		oldKey, oldToken, oldUsage := pair(r)
		if r := e.call(t, "GET", "/orders/1", oldUsage, "", ""); r.Status != 200 {
			t.Fatalf("ApiKey pair before rotation: %s", r)
		}

		r = e.call(t, "POST", "/user/apikey/rotate", alice, "", "")
		want(t, "POST /user/apikey/rotate", r, 200)
		newKey, newToken, newUsage := pair(r)
		if newKey == oldKey || newToken == oldToken || !strings.HasPrefix(newKey, "kgk_") || !strings.HasPrefix(newToken, "kgt_") {
			t.Fatalf("rotation gave key %q token %q; old key %q token %q", newKey, newToken, oldKey, oldToken)
		}
		for _, path := range []string{"/orders/1", "/user"} {
			if r := e.call(t, "GET", path, oldUsage, "", ""); r.Status != 401 {
				t.Errorf("GET %s with the old pair after rotation: %s, want 401", path, r)
			}
		}
		if r := e.call(t, "GET", "/orders/1", "ApiKey "+newKey+":"+oldToken, "", ""); r.Status != 401 {
			t.Errorf("new key with the old token: %s, want 401", r)
		}
		// Someone who knew the old key can no longer void anything.
		e.wrongTokens(t, oldKey, newToken)
		if r := e.call(t, "GET", "/orders/1", newUsage, "", ""); r.Status != 200 {
			t.Fatalf("new pair after three wrong tokens with the old key: %s, want 200", r)
		}
		r = e.call(t, "GET", "/user/apikey", alice, "", "")
		want(t, "GET /user/apikey after rotation", r, 200)
		if v := r.JSON(t); v["key"] != newKey || v["status"] != "active" || v["failures"] != 0.0 || v["hasToken"] != true {
			t.Errorf("GET /user/apikey after rotation: %s, want the new key, active, no failures", r.Body)
		}
		// The void rule holds for the new pair: three wrong tokens void it.
		e.wrongTokens(t, newKey, oldToken)
		if r := e.call(t, "GET", "/orders/1", newUsage, "", ""); r.Status != 401 {
			t.Errorf("right token after three wrong ones: %s, want 401 (void)", r)
		}
		// Rotating again is the way out of a void, too.
		r = e.call(t, "POST", "/user/apikey/rotate", alice, "", "")
		want(t, "POST /user/apikey/rotate after a void", r, 200)
		if _, _, usage := pair(r); e.call(t, "GET", "/orders/1", usage, "", "").Status != 200 {
			t.Errorf("pair rotated after a void is refused")
		}
	})
}
