package selfservice_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/keygate/keygate/internal/redistest"
)

// TestInputValidation: JSON bodies are checked for type, size, unknown
// fields and Content-Type, and every refusal names the field.
func TestInputValidation(t *testing.T) {
	e := newAPI(t, "embedded", "")
	e.user(t, "alice", []string{"orders"}, []string{"read", "write"}, "MANAGE_USER_API_KEY")
	alice := "Bearer " + mustKey(t, e, "alice", "caller")
	big := `{"handle": "big", "description": "` + strings.Repeat("x", 70<<10) + `"}`

	tests := []struct {
		name, method, path, ctype, body string
		status                          int
		code, description               string
	}{
		{"unknown field", "POST", "/user/keys", "application/json", `{"handle": "k", "x": 1}`, 400, "invalid_request", `unknown field "x"`},
		{"unknown field, createClientId", "POST", "/connect/register/createClientId", "application/json", `{"redirectUri": "http://x"}`, 400, "invalid_request", `unknown field "redirectUri"`},
		{"unknown field, new token", "POST", "/user/apikey/token", "application/json", `{"token": "mine"}`, 400, "invalid_request", `unknown field "token"`},
		{"wrong type", "POST", "/user/keys", "application/json", `{"handle": 7}`, 400, "invalid_request", "handle: must be a string"},
		{"wrong list type", "POST", "/user/keys", "application/json", `{"handle": "k", "apiSets": "orders"}`, 400, "invalid_request", "apiSets: must be an array of strings"},
		{"wrong number type", "POST", "/connect/register/createClientId", "application/json", `{"accessTokenValiditySeconds": "1h"}`, 400, "invalid_request", "accessTokenValiditySeconds: must be an integer"},
		{"not an object", "POST", "/user/keys", "application/json", `["k"]`, 400, "invalid_request", "The request body must be a JSON object."},
		{"not JSON", "POST", "/user/keys", "application/json", `{"handle": `, 400, "invalid_request", "The request body is not valid JSON."},
		{"two values", "POST", "/user/keys", "application/json", `{"handle": "a"} {"handle": "b"}`, 400, "invalid_request", "The request body must hold one JSON object and nothing after it."},
		{"missing handle", "POST", "/user/keys", "application/json", `{}`, 400, "invalid_request", "handle: required: 1 to 64 of letters, digits, _ . -"},
		{"bad handle", "POST", "/user/keys", "application/json", `{"handle": "a b"}`, 400, "invalid_request", "handle: required: 1 to 64 of letters, digits, _ . -"},
		{"no body", "POST", "/user/keys", "application/json", ``, 400, "invalid_request", "A JSON request body is required."},
		{"wrong content type", "POST", "/user/keys", "text/plain", `{"handle": "k"}`, 415, "unsupported_media_type", "Content-Type must be application/json."},
		{"form content type", "POST", "/user/keys", "application/x-www-form-urlencoded", `handle=k`, 415, "unsupported_media_type", "Content-Type must be application/json."},
		{"no content type", "POST", "/user/keys", "", `{"handle": "k"}`, 415, "unsupported_media_type", "Content-Type must be application/json."},
		{"wrong content type, createClientId", "POST", "/connect/register/createClientId", "text/plain", `{}`, 415, "unsupported_media_type", "Content-Type must be application/json."},
		{"latin-1 JSON", "POST", "/user/keys", "application/json; charset=iso-8859-1", `{"handle": "k"}`, 415, "unsupported_media_type", "Content-Type must be application/json."},
		{"too large", "POST", "/user/keys", "application/json", big, 413, "request_too_large", "The request body is larger than 64 KiB."},
		{"unknown query parameter", "POST", "/user/keys?handle=k", "application/json", `{"handle": "k"}`, 400, "invalid_request", `unknown query parameter "handle"`},
		{"unknown path", "GET", "/user/nothing", "", "", 404, "not_found", "No such resource."},
		{"trailing slash", "GET", "/user/keys/", "", "", 404, "not_found", "No such resource."},
		{"encoded path", "GET", "/user/keys/%63i", "", "", 400, "invalid_request", "The request path is not allowed."},
		{"dot segment", "GET", "/user/keys/./ci", "", "", 400, "invalid_request", "The request path is not allowed."},
		{"wrong method", "PUT", "/user/keys", "application/json", `{}`, 405, "method_not_allowed", "The resource does not serve this method."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call(t, tt.method, tt.path, alice, tt.ctype, tt.body)
			if d := wantError(t, tt.method+" "+tt.path, r, tt.status, tt.code); d != tt.description && r.Status == tt.status {
				t.Errorf("error_description %q, want %q", d, tt.description)
			}
		})
	}
	if r := e.call(t, "PUT", "/user/keys", alice, "", ""); r.Header.Get("Allow") != "GET, HEAD, POST" {
		t.Errorf("405 Allow %q, want GET, HEAD, POST", r.Header.Get("Allow"))
	}
	// Nothing was created by the failed requests.
	if r := e.call(t, "GET", "/user/keys", alice, "", ""); strings.Count(string(r.Body), `"handle"`) != 1 {
		t.Errorf("keys after failed creates: %s, want only the caller's", r.Body)
	}
}

// TestCallerAuthentication: who may call, and the answers to those who
// may not.
func TestCallerAuthentication(t *testing.T) {
	e := newAPI(t, "embedded", "self_service: {enabled: true, max_password_failures_per_user: 3}")
	alice := e.user(t, "alice", []string{"orders"}, []string{"read", "write"})

	tests := []struct {
		name, authorization string
		status              int
		code                string
		challenge           string
	}{
		{"nothing", "", 401, "unauthorized", `Basic realm="keygate"`},
		{"unknown Bearer", "Bearer kgl_" + strings.Repeat("A", 49), 401, "invalid_token", `Bearer realm="keygate", error="invalid_token"`},
		{"malformed Bearer", "Bearer a b", 400, "invalid_request", `Bearer realm="keygate", error="invalid_request"`},
		{"malformed Basic", "Basic !!!", 400, "invalid_request", ""},
		{"unknown user", basic("nobody", "whatever-password"), 401, "unauthorized", `Basic realm="keygate"`},
		{"Digest", "Digest username=x", 401, "unauthorized", `Bearer realm="keygate"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call(t, "GET", "/user", tt.authorization, "", "")
			wantError(t, tt.name, r, tt.status, tt.code)
			if tt.challenge != "" && !strings.Contains(strings.Join(r.Header.Values("Www-Authenticate"), "\n"), tt.challenge) {
				t.Errorf("WWW-Authenticate %q, want %q among them", r.Header.Values("Www-Authenticate"), tt.challenge)
			}
		})
	}
	if r := e.call(t, "GET", "/user", "", "", ""); !strings.Contains(strings.Join(r.Header.Values("Www-Authenticate"), "\n"), `Bearer realm="keygate"`) {
		t.Errorf("401 challenges %q, want Basic and Bearer", r.Header.Values("Www-Authenticate"))
	}

	// Password failures per user: three wrong, then even the right
	// password gets 429 with Retry-After.
	for range 3 {
		wantError(t, "wrong password", e.call(t, "GET", "/user", basic("alice", "wrong-password"), "", ""), 401, "unauthorized")
	}
	r := e.call(t, "GET", "/user", alice, "", "")
	wantError(t, "right password after too many failures", r, 429, "too_many_requests")
	if ra := r.Header.Get("Retry-After"); ra != "900" {
		t.Errorf("Retry-After %q, want 900 (the failure window)", ra)
	}
	// The user's credentials still work.
	if r := e.call(t, "GET", "/user", "Bearer "+mustKey(t, e, "alice", "k"), "", ""); r.Status != 200 {
		t.Errorf("a key while passwords are locked: %s", r)
	}

	// A disabled user can no longer sign in.
	bob := e.user(t, "bob", []string{"orders"}, []string{"read"})
	bobKey := "Bearer " + mustKey(t, e, "bob", "k")
	if _, err := e.svc.Accounts.UpdateUser(t.Context(), "bob", func(u *userT) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	wantError(t, "disabled user, password", e.call(t, "GET", "/user", bob, "", ""), 401, "unauthorized")
	wantError(t, "disabled user, key", e.call(t, "GET", "/user", bobKey, "", ""), 401, "invalid_token")
}

// TestStoreDown: while the store cannot be reached, callers get 503 with
// Retry-After, never 401 or 403.
func TestStoreDown(t *testing.T) {
	srv := redistest.Start(t)
	e := startEnv(t, redisStore(t, srv.Addr()), "")
	alice := e.user(t, "alice", []string{"orders"}, []string{"read", "write"}, "MANAGE_USER_API_KEY")
	key := "Bearer " + mustKey(t, e, "alice", "k")
	id, secret := e.createClient(t, alice, "")
	srv.Stop()
	// go-redis retries each call with back-off: ask all at once.
	calls := []struct {
		name string
		do   func() response
	}{
		{"password", func() response { return e.call(t, "GET", "/user", alice, "", "") }},
		{"uncached key", func() response { return e.call(t, "GET", "/user", key, "", "") }},
		{"token endpoint", func() response {
			return e.postForm(t, "/oauth/token", clientBasic(id, secret), map[string][]string{"grant_type": {"client_credentials"}})
		}},
	}
	got := make([]response, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = c.do() }()
	}
	wg.Wait()
	for i, c := range calls {
		wantError(t, c.name+", store down", got[i], http.StatusServiceUnavailable, "temporarily_unavailable")
		if got[i].Header.Get("Retry-After") == "" {
			t.Errorf("%s, store down: no Retry-After", c.name)
		}
	}
}
