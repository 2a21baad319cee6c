package proxy

import (
	"net/http/httptest"
	"testing"
)

// BenchmarkForwardAuth compares, in one run, a forward-auth check of a
// request (Check: the whole decision, no upstream) with proxying the same
// request to a real upstream (ServeHTTP), both with a valid Bearer key
// token on a cache hit. Compare their ns/op (benchstat): the ratio is the
// in-process cost of a check against a proxied request.
func BenchmarkForwardAuth(b *testing.B) {
	up := benchUpstream(b)
	cfg := benchConfig(b, `
log: {access_log: false}
trusted_proxies: [192.0.2.0/24]
forward_auth: {enabled: true}
auth:
  digest_keys: [{id: b1, secret: "benchmark-digest-key-of-32-bytes-or-more"}]
routes:
  - {name: api, path_prefix: /api, upstream: %s, api_set: orders}
`, up.URL)
	svc, tok := benchService(b, cfg, "orders")
	h := benchHandler(b, cfg, Options{Authenticator: svc.Verifier})
	req := benchRequest("GET", "http://gw.test/api/v1/items/42", "Authorization", "Bearer "+tok)
	for _, c := range []struct {
		name string
		run  func(*httptest.ResponseRecorder)
	}{
		{"proxy", func(w *httptest.ResponseRecorder) { h.ServeHTTP(w, req) }},
		{"check", func(w *httptest.ResponseRecorder) { h.Check(w, req) }},
	} {
		b.Run(c.name, func(b *testing.B) { benchStatus(b, 200, c.run) })
	}
}
