package proxy

import (
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/store/embedded"
)

// BenchmarkForwardAuth compares, in one run, a forward-auth check of a
// request (Check: the whole decision, no upstream) with proxying the same
// request to a real upstream (ServeHTTP), both with a valid Bearer key
// token on a cache hit. Compare their ns/op (benchstat): the ratio is the
// in-process cost of a check against a proxied request.
func BenchmarkForwardAuth(b *testing.B) {
	up := benchUpstream(b)
	st, err := embedded.Open(b.Context(), config.Embedded{Path: filepath.Join(b.TempDir(), "k.db")}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	cfg, err := config.Parse("b.yaml", []byte(fmt.Sprintf(`
log: {access_log: false}
trusted_proxies: [192.0.2.0/24]
forward_auth: {enabled: true}
auth:
  digest_keys: [{id: b1, secret: "benchmark-digest-key-of-32-bytes-or-more"}]
routes:
  - {name: api, path_prefix: /api, upstream: %s, api_set: orders}
`, up.URL)), nil)
	if err != nil {
		b.Fatal(err)
	}
	svc, err := authz.New(b.Context(), cfg.Auth, st, authz.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	if _, err := svc.Accounts.CreateUser(b.Context(), authz.User{Name: "bench", APISets: []string{"orders"}, Scopes: []string{"read", "write"}}); err != nil {
		b.Fatal(err)
	}
	tok, _, err := svc.Accounts.CreateKey(b.Context(), "bench", authz.KeySpec{Handle: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	h, err := New(cfg, Options{Authenticator: svc.Verifier})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	req := httptest.NewRequest("GET", "http://gw.test/api/v1/items/42", nil)
	req.RemoteAddr = "192.0.2.10:1234"
	req.Header.Set("Authorization", "Bearer "+tok)
	for _, c := range []struct {
		name string
		run  func(*httptest.ResponseRecorder)
	}{
		{"proxy", func(w *httptest.ResponseRecorder) { h.ServeHTTP(w, req) }},
		{"check", func(w *httptest.ResponseRecorder) { h.Check(w, req) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				c.run(w)
				if w.Code != 200 {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
