package gateway

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keygate/keygate/authz"
)

// corsUpstream counts the requests it gets and answers each with CORS
// headers of its own, which keygate must drop on a route with a policy
// and leave alone on one without.
func corsUpstream(t *testing.T) (url string, hits *atomic.Int64) {
	hits = new(atomic.Int64)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Access-Control-Allow-Origin", "https://upstream.example")
		w.Header().Set("Vary", "Accept-Encoding")
		fmt.Fprintf(w, `{"method":%q}`, r.Method)
	}))
	t.Cleanup(up.Close)
	return up.URL, hits
}

func corsConfig(dir, up, setOrigins string) string {
	return fmt.Sprintf(`
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
health_listen: 127.0.0.1:0
log: {access_log: false}
store: {embedded: {path: %q}}
auth:
  digest_keys: [{id: t1, secret: "a-test-digest-key-of-at-least-32-bytes"}]
routes:
  - {name: orders, path_prefix: /orders, upstream: %[2]s, api_set: orders, methods: [GET, POST]}
  - {name: limited, path_prefix: /limited, upstream: %[2]s, api_set: orders, rate_limit: {rate: 1, per: 1h}}
  - name: admin
    path_prefix: /admin
    upstream: %[2]s
    api_set: orders
    cors: {allowed_origins: ["https://admin.example.com"], allow_credentials: true, max_age: 1h}
  - {name: plain, path_prefix: /plain, upstream: %[2]s, api_set: plain}
  - {name: open, path_prefix: /open, upstream: %[2]s, auth: none}
api_sets:
  orders: {cors: {allowed_origins: [%[3]s]}}
`, filepath.Join(dir, "k.db"), up, setOrigins)
}

// allowHeaders are the response headers a browser reads to allow a call.
var allowHeaders = []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Allow-Credentials", "Access-Control-Max-Age", "Access-Control-Expose-Headers"}

func noAllowHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	for _, k := range allowHeaders {
		if v := h.Values(k); len(v) > 0 {
			t.Errorf("%s: %s: %q, want none", what, k, v)
		}
	}
}

func varies(h http.Header, name string) bool {
	for _, v := range h.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), name) {
				return true
			}
		}
	}
	return false
}

// TestCORS: on a real gateway listener, a route's cors policy (its API
// set's, or its own) answers browsers' preflights without a credential and
// without proxying them, and puts the CORS headers on actual answers,
// keygate's 401 and 429 included; other origins get none.
func TestCORS(t *testing.T) {
	up, hits := corsUpstream(t)
	dir := t.TempDir()
	g, _ := start(t, parse(t, corsConfig(dir, up, `"https://app.example.com", "https://*.example.org"`)))
	base := "http://" + g.Addr().String()
	if _, err := g.Auth().Accounts.CreateUser(t.Context(), authz.User{Name: "alice", APISets: []string{"orders", "plain"}, Scopes: []string{"read", "write"}}); err != nil {
		t.Fatal(err)
	}
	tok := "Bearer " + namedKey(t, g, "alice", "spa")
	const app = "https://app.example.com"

	preflights := []struct {
		name, path, origin, method, headers string
		allowed                             bool
		allow                               string // Allow on a refused method
	}{
		{"allowed origin, GET with Authorization", "/orders/1", app, "GET", "authorization", true, ""},
		{"allowed origin, POST with Content-Type", "/orders", app, "POST", "authorization,content-type", true, ""},
		{"origin pattern", "/orders/1", "https://shop.example.org", "GET", "authorization", true, ""},
		{"origin pattern's bare domain", "/orders/1", "https://example.org", "GET", "", false, ""},
		{"other origin", "/orders/1", "https://evil.example.com", "GET", "authorization", false, ""},
		{"same name, other scheme", "/orders/1", "http://app.example.com", "GET", "", false, ""},
		{"header not allowed", "/orders/1", app, "GET", "authorization,x-secret", false, ""},
		{"method the route does not serve", "/orders/1", app, "DELETE", "authorization", false, "GET, POST"},
		{"route's own policy replaces the set's", "/admin", app, "GET", "", false, ""},
	}
	for _, tt := range preflights {
		t.Run("preflight "+tt.name, func(t *testing.T) {
			before := hits.Load()
			h := []string{"Origin", tt.origin, "Access-Control-Request-Method", tt.method}
			if tt.headers != "" {
				h = append(h, "Access-Control-Request-Headers", tt.headers)
			}
			code, got, body := call(t, "OPTIONS", base+tt.path, h...)
			if code != http.StatusNoContent || body != "" {
				t.Errorf("status %d %q, want 204 and no body", code, body)
			}
			if n := hits.Load() - before; n != 0 {
				t.Errorf("the preflight reached the upstream (%d requests)", n)
			}
			if !varies(got, "Origin") {
				t.Errorf("Vary %q, want Origin", got.Values("Vary"))
			}
			if got.Get("Allow") != tt.allow {
				t.Errorf("Allow %q, want %q", got.Get("Allow"), tt.allow)
			}
			if !tt.allowed {
				noAllowHeaders(t, "refused preflight", got)
				return
			}
			if v := got.Values("Access-Control-Allow-Origin"); !slices.Equal(v, []string{tt.origin}) {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", v, tt.origin)
			}
			if v := got.Get("Access-Control-Allow-Methods"); v != tt.method {
				t.Errorf("Access-Control-Allow-Methods %q, want %q", v, tt.method)
			}
			if v := got.Get("Access-Control-Allow-Headers"); !strings.EqualFold(v, tt.headers) {
				t.Errorf("Access-Control-Allow-Headers %q, want %q", v, tt.headers)
			}
			if v := got.Get("Access-Control-Max-Age"); v != "600" {
				t.Errorf("Access-Control-Max-Age %q, want 600 (the default 10m)", v)
			}
			if v := got.Get("Access-Control-Allow-Credentials"); v != "" {
				t.Errorf("Access-Control-Allow-Credentials %q without allow_credentials", v)
			}
		})
	}

	t.Run("preflight on a route with its own policy and credentials", func(t *testing.T) {
		code, h, _ := call(t, "OPTIONS", base+"/admin/x", "Origin", "https://admin.example.com", "Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "authorization")
		if code != 204 || h.Get("Access-Control-Allow-Origin") != "https://admin.example.com" || h.Get("Access-Control-Allow-Credentials") != "true" || h.Get("Access-Control-Max-Age") != "3600" {
			t.Errorf("%d %v, want 204 allowing https://admin.example.com with credentials for 3600s", code, h)
		}
	})

	actual := []struct {
		name, path, origin, auth string
		status                   int
		allowed                  bool
	}{
		{"allowed origin with a token", "/orders/1", app, tok, 200, true},
		{"allowed origin, no credential: a readable 401", "/orders/1", app, "", 401, true},
		{"allowed origin, wrong token: a readable 401", "/orders/1", app, "Bearer kgl_nope", 401, true},
		{"other origin with a token", "/orders/1", "https://evil.example.com", tok, 200, false},
		{"no Origin", "/orders/1", "", tok, 200, false},
		{"route's own policy, its origin", "/admin", "https://admin.example.com", tok, 200, true},
		{"route's own policy, the set's origin", "/admin", app, tok, 200, false},
	}
	for _, tt := range actual {
		t.Run("GET "+tt.name, func(t *testing.T) {
			var h []string
			if tt.origin != "" {
				h = append(h, "Origin", tt.origin)
			}
			if tt.auth != "" {
				h = append(h, "Authorization", tt.auth)
			}
			code, got, body := call(t, "GET", base+tt.path, h...)
			if code != tt.status {
				t.Fatalf("status %d %s, want %d", code, body, tt.status)
			}
			if !varies(got, "Origin") {
				t.Errorf("Vary %q, want Origin", got.Values("Vary"))
			}
			if !tt.allowed {
				noAllowHeaders(t, "not allowed", got)
				return
			}
			if v := got.Values("Access-Control-Allow-Origin"); !slices.Equal(v, []string{tt.origin}) {
				t.Errorf("Access-Control-Allow-Origin %q, want only %q (the upstream's own dropped)", v, tt.origin)
			}
			exposed := strings.ToLower(got.Get("Access-Control-Expose-Headers"))
			for _, name := range []string{"www-authenticate", "retry-after", "x-request-id"} {
				if !strings.Contains(exposed, name) {
					t.Errorf("Access-Control-Expose-Headers %q lacks %s", exposed, name)
				}
			}
			if code == 401 && got.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}

	t.Run("a readable 429", func(t *testing.T) {
		var code int
		var h http.Header
		for range 2 {
			code, h, _ = call(t, "GET", base+"/limited", "Origin", app, "Authorization", tok)
		}
		if code != 429 || h.Get("Access-Control-Allow-Origin") != app || h.Get("Retry-After") == "" {
			t.Errorf("second request past rate 1: %d, Access-Control-Allow-Origin %q, Retry-After %q; want 429 allowing %s", code, h.Get("Access-Control-Allow-Origin"), h.Get("Retry-After"), app)
		}
	})

	t.Run("OPTIONS with a credential is no preflight", func(t *testing.T) {
		before := hits.Load()
		code, h, _ := call(t, "OPTIONS", base+"/limited", "Origin", app, "Access-Control-Request-Method", "GET", "Authorization", "Bearer kgl_nope")
		if code != 401 || hits.Load() != before {
			t.Errorf("%d, want 401 from authentication, not proxied", code)
		}
		if h.Get("Access-Control-Allow-Methods") != "" || !varies(h, "Origin") {
			t.Errorf("headers %v: want Vary: Origin and no preflight answer", h)
		}
	})

	t.Run("reload replaces the policy", func(t *testing.T) {
		if err := g.Reload(parse(t, corsConfig(dir, up, `"https://new.example.com"`))); err != nil {
			t.Fatal(err)
		}
		_, h, _ := call(t, "OPTIONS", base+"/orders", "Origin", app, "Access-Control-Request-Method", "GET")
		noAllowHeaders(t, "the old origin after reload", h)
		_, h, _ = call(t, "OPTIONS", base+"/orders", "Origin", "https://new.example.com", "Access-Control-Request-Method", "GET")
		if h.Get("Access-Control-Allow-Origin") != "https://new.example.com" {
			t.Errorf("the new origin after reload: %v", h)
		}
	})
}

// TestCORSNoPolicy: without a cors policy nothing changes: a preflight is
// an ordinary request (401 where auth is required, proxied where the
// route lets it through), and the upstream's own CORS headers pass
// unchanged, without a Vary of keygate's.
func TestCORSNoPolicy(t *testing.T) {
	up, hits := corsUpstream(t)
	g, _ := start(t, parse(t, corsConfig(t.TempDir(), up, `"https://app.example.com"`)))
	base := "http://" + g.Addr().String()
	pre := []string{"Origin", "https://app.example.com", "Access-Control-Request-Method", "GET"}

	code, h, _ := call(t, "OPTIONS", base+"/plain", pre...)
	if code != 401 || h.Get("Access-Control-Allow-Origin") != "" || varies(h, "Origin") {
		t.Errorf("preflight on a required route without a policy: %d %v, want a bare 401", code, h)
	}
	before := hits.Load()
	code, h, body := call(t, "OPTIONS", base+"/open", pre...)
	if code != 200 || hits.Load() != before+1 || body != `{"method":"OPTIONS"}` {
		t.Errorf("preflight on an auth none route without a policy: %d %q, want it proxied", code, body)
	}
	if v := h.Values("Access-Control-Allow-Origin"); !slices.Equal(v, []string{"https://upstream.example"}) || varies(h, "Origin") {
		t.Errorf("upstream's CORS headers: %q, Vary %q; want them as the upstream sent them", v, h.Values("Vary"))
	}
	code, h, _ = call(t, "GET", base+"/open", "Origin", "https://app.example.com")
	if code != 200 || h.Get("Access-Control-Allow-Origin") != "https://upstream.example" || varies(h, "Origin") {
		t.Errorf("GET on a route without a policy: %d %v", code, h)
	}
}
