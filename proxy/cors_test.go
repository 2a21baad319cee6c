package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keygate/keygate/config"
)

// BenchmarkKeygateCORS measures what a cors policy costs on the request
// path, against the same route without one in the same run: an allowed
// cross-origin request with a valid Bearer token (proxied, 200), the same
// without a credential (keygate's 401, nothing proxied) and a preflight
// (204). Compare the sub-benchmarks' ns/op (benchstat) or instruction
// counts, not absolute figures.
func BenchmarkKeygateCORS(b *testing.B) {
	up := benchUpstream(b)
	cfg := benchConfig(b, `
log: {access_log: false}
auth:
  digest_keys: [{id: b1, secret: "benchmark-digest-key-of-32-bytes-or-more"}]
  failure_limit: {rate: -1}
routes:
  - {name: api, path_prefix: /api, upstream: %[1]s, api_set: orders}
  - {name: spa, path_prefix: /spa, upstream: %[1]s, api_set: spa}
api_sets:
  spa: {cors: {allowed_origins: ["https://app.example.com", "https://*.example.org"]}}
`, up.URL)
	svc, tok := benchService(b, cfg, "orders", "spa")
	h := benchHandler(b, cfg, Options{Authenticator: svc.Verifier})
	const origin = "https://app.example.com"
	for _, c := range []struct {
		name, method, path string
		headers            []string
		status             int
	}{
		{"none/bearer", "GET", "/api/v1/items/42", []string{"Authorization", "Bearer " + tok, "Origin", origin}, 200},
		{"policy/bearer", "GET", "/spa/v1/items/42", []string{"Authorization", "Bearer " + tok, "Origin", origin}, 200},
		{"policy/bearer-pattern", "GET", "/spa/v1/items/42", []string{"Authorization", "Bearer " + tok, "Origin", "https://shop.example.org"}, 200},
		{"none/401", "GET", "/api/v1/items/42", []string{"Origin", origin}, 401},
		{"policy/401", "GET", "/spa/v1/items/42", []string{"Origin", origin}, 401},
		{"policy/preflight", "OPTIONS", "/spa/v1/items/42", []string{"Origin", origin, "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization"}, 204},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := benchRequest(c.method, "http://gw.test"+c.path, c.headers...)
			benchStatus(b, c.status, func(w *httptest.ResponseRecorder) { h.ServeHTTP(w, req) })
		})
	}
}

// TestCORSHandlerUnit covers what the gateway test cannot reach easily:
// a 405 on a path with a policy carries the CORS headers for a method the
// policy allows, and a preflight for a method served by a route without a
// policy, beside one with, is an ordinary request.
func TestCORSHandlerUnit(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream", r.Method)
	}))
	defer up.Close()
	cfg, err := config.Parse("t.yaml", []byte(fmt.Sprintf(`
routes:
  - {name: read, path_prefix: /x, upstream: %[1]s, auth: none, methods: [GET],
     cors: {allowed_origins: ["https://app.example.com"], allowed_methods: [GET, POST]}}
  - {name: write, path_prefix: /x, upstream: %[1]s, auth: none, methods: [PUT]}
`, up.URL)), nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	serve := func(method string, headers ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "http://gw.test/x/1", nil)
		for i := 0; i < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	const origin = "https://app.example.com"
	if w := serve("POST", "Origin", origin); w.Code != 405 || w.Header().Get("Access-Control-Allow-Origin") != origin || w.Header().Get("Allow") != "GET, PUT" {
		t.Errorf("POST (allowed by the policy, served by no route): %d %v, want a 405 with Allow and the CORS headers", w.Code, w.Header())
	}
	if w := serve("OPTIONS", "Origin", origin, "Access-Control-Request-Method", "PUT"); w.Code != 405 || w.Header().Get("Access-Control-Allow-Methods") != "" {
		t.Errorf("preflight for PUT, served by a route without a policy: %d %v, want an ordinary OPTIONS (405 here)", w.Code, w.Header())
	}
	if w := serve("OPTIONS", "Origin", origin, "Access-Control-Request-Method", "GET"); w.Code != 204 || w.Header().Get("Access-Control-Allow-Methods") != "GET" {
		t.Errorf("preflight for GET: %d %v, want 204 allowing GET", w.Code, w.Header())
	}
	if w := serve("OPTIONS", "Origin", origin, "Access-Control-Request-Method", "DELETE"); w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "" || w.Header().Get("Allow") != "GET, PUT" {
		t.Errorf("preflight for DELETE, served by no route: %d %v, want 204 with Allow and no Access-Control-Allow-*", w.Code, w.Header())
	}
}
