package proxy

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/otlptest"
	"github.com/keygate/keygate/internal/testkit"
	"github.com/keygate/keygate/internal/tracing"
	"github.com/keygate/keygate/internal/version"
	"github.com/keygate/keygate/store/embedded"
)

// The proxy benchmarks run keygate's Handler and a bare
// httputil.ReverseProxy with the same Transport settings against the same
// real upstream in one run; compare their ns/op and allocs/op (benchstat),
// not absolute figures. The request goes through ServeHTTP directly so the
// client's cost is left out.

func benchUpstream(b *testing.B) *httptest.Server {
	body := []byte(`{"ok":true}`)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	b.Cleanup(up.Close)
	return up
}

// benchConfig parses the config format (with args, as fmt.Sprintf) for a
// benchmark.
func benchConfig(b *testing.B, format string, args ...any) *config.Config {
	b.Helper()
	cfg, err := config.Parse("b.yaml", []byte(fmt.Sprintf(format, args...)), nil)
	if err != nil {
		b.Fatal(err)
	}
	return cfg
}

// benchHandler is New(cfg, opts), closed when b ends.
func benchHandler(b *testing.B, cfg *config.Config, opts Options) *Handler {
	b.Helper()
	h, err := New(cfg, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(h.Close)
	return h
}

// benchService is an authz service for cfg's auth section on an embedded
// store in a temporary folder, with a user "bench" (scopes read and write
// on apiSets) holding a named key (handle bench): the service and the
// key's token. Both are closed when b ends.
func benchService(b *testing.B, cfg *config.Config, apiSets ...string) (*authz.Service, string) {
	b.Helper()
	st, err := embedded.Open(b.Context(), config.Embedded{Path: filepath.Join(b.TempDir(), "k.db")}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	svc, err := authz.New(b.Context(), cfg.Auth, st, authz.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(svc.Close)
	if _, err := svc.Accounts.CreateUser(b.Context(), authz.User{Name: "bench", APISets: apiSets, Scopes: []string{"read", "write"}}); err != nil {
		b.Fatal(err)
	}
	tok, _, err := svc.Accounts.CreateKey(b.Context(), "bench", authz.KeySpec{Handle: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	return svc, tok
}

// benchRequest is a request from 192.0.2.10 for url with the headers
// given (name, value, ...).
func benchRequest(method, url string, headers ...string) *http.Request {
	req := httptest.NewRequest(method, url, nil)
	req.RemoteAddr = "192.0.2.10:1234"
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

// benchStatus runs serve in the benchmark loop, on a new recorder each
// time, and fails on any status but want.
func benchStatus(b *testing.B, want int, serve func(*httptest.ResponseRecorder)) {
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		serve(w)
		if w.Code != want {
			b.Fatalf("status %d, want %d: %s", w.Code, want, w.Body)
		}
	}
}

func runProxyBench(b *testing.B, h http.Handler) {
	req := httptest.NewRequest("GET", "http://gw.test/api/v1/items/42", nil)
	req.RemoteAddr = "192.0.2.10:1234"
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	reportCPU(b, cpu)
}

// reportCPU reports cpu-ns/op: the process's CPU time (every goroutine:
// the proxy, the in-process upstream, exporters) since start, per
// iteration. On a machine shared with other work it moves much less than
// ns/op, which counts the time waiting for a core.
func reportCPU(b *testing.B, start time.Duration) {
	if start > 0 && b.N > 0 {
		b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
	}
}

func BenchmarkBareProxy(b *testing.B) {
	up := benchUpstream(b)
	target, _ := url.Parse(up.URL)
	var c config.Config
	cfg, _ := config.Parse("b.yaml", []byte(fmt.Sprintf("routes:\n  - {name: api, path_prefix: /api, upstream: %s, auth: none}\n", up.URL)), nil)
	c = *cfg
	tr, err := newTransport(c.Upstream, &socketMap{}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport:  tr,
		BufferPool: bufferPool{},
	}
	runProxyBench(b, rp)
}

func BenchmarkKeygateProxy(b *testing.B) {
	for _, accessLog := range []bool{false, true} {
		b.Run(fmt.Sprintf("access_log=%v", accessLog), func(b *testing.B) {
			up := benchUpstream(b)
			cfg := benchConfig(b, "log: {access_log: %v}\nroutes:\n  - {name: api, path_prefix: /api, upstream: %s, auth: none}\n", accessLog, up.URL)
			runProxyBench(b, benchHandler(b, cfg, Options{Logger: benchLogger(io.Discard)}))
		})
	}
}

func BenchmarkCanonicalPath(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, _, _ = canonicalPath("/api/v1/items/42")
	}
}

func BenchmarkRouteMatch(b *testing.B) {
	var y string
	for i := 0; i < 100; i++ {
		y += fmt.Sprintf("  - {name: r%d, path_prefix: /svc%d/v1, upstream: http://127.0.0.1:1, auth: none}\n", i, i)
	}
	cfg, err := config.Parse("b.yaml", []byte("routes:\n"+y), nil)
	if err != nil {
		b.Fatal(err)
	}
	h, err := New(cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	t := h.state.Load().table
	b.ReportAllocs()
	for b.Loop() {
		if rt, _ := t.match("gw.test", "/svc57/v1/items/42", "GET"); rt == nil {
			b.Fatal("no match")
		}
	}
}

// BenchmarkKeygateProxyAuth is BenchmarkKeygateProxy on a route with auth
// required: a valid key token (Bearer) and ApiKey pair on cache hits, and
// a flood of one well-formed unknown token (negative cache). Compare with
// BenchmarkBareProxy from the same run.
func BenchmarkKeygateProxyAuth(b *testing.B) {
	up := benchUpstream(b)
	cfg := benchConfig(b, `
log: {access_log: false}
auth:
  digest_keys: [{id: b1, secret: "benchmark-digest-key-of-32-bytes-or-more"}]
  # The refusals are measured, not the failure limits' 429s.
  failure_limit: {rate: -1}
  key_failure_limit: {rate: -1}
routes:
  - {name: api, path_prefix: /api, upstream: %s, api_set: orders}
`, up.URL)
	svc, keyTok := benchService(b, cfg, "orders")
	key, apiTok, err := svc.Accounts.NewAPIKeyToken(b.Context(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	// A second user whose ApiKey token is void: three wrong tokens.
	if _, err := svc.Accounts.CreateUser(b.Context(), authz.User{Name: "voided", APISets: []string{"orders"}, Scopes: []string{"read"}}); err != nil {
		b.Fatal(err)
	}
	vkey, vtok, err := svc.Accounts.NewAPIKeyToken(b.Context(), "voided")
	if err != nil {
		b.Fatal(err)
	}
	wrong := "ApiKey " + vkey + ":" + authz.NewToken(authz.KindAPIKey)
	for range 3 {
		svc.Verifier.Verify(b.Context(), []string{wrong}, authz.Need{APISet: "orders", Scope: "read"}, netip.Addr{})
	}
	// Strikes are recorded just after the answers.
	testkit.Eventually(b, time.Second, "the ApiKey token voided", func() bool {
		_, err := svc.Verifier.Verify(b.Context(), []string{"ApiKey " + vkey + ":" + vtok}, authz.Need{APISet: "orders", Scope: "read"}, netip.Addr{})
		return err != nil
	})

	h := benchHandler(b, cfg, Options{Authenticator: svc.Verifier})
	for _, c := range []struct {
		name, authorization string
		status              int
	}{
		{"bearer", "Bearer " + keyTok, 200},
		{"apikey", "ApiKey " + key + ":" + apiTok, 200},
		{"unknown", "Bearer " + authz.NewToken(authz.KindKeyToken), 401},
		{"apikey-unknown-key", "ApiKey " + authz.NewKey() + ":" + vtok, 401},
		{"apikey-void", "ApiKey " + vkey + ":" + vtok, 401},
		{"apikey-wrong-on-void", wrong, 401},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := benchRequest("GET", "http://gw.test/api/v1/items/42", "Authorization", c.authorization)
			benchStatus(b, c.status, func(w *httptest.ResponseRecorder) { h.ServeHTTP(w, req) })
		})
	}
}

// BenchmarkKeygateProxyTracing is BenchmarkKeygateProxy (access log off)
// with tracing off, and on at sample ratios 0.1 and 1, exporting over
// OTLP/HTTP to an in-process receiver that discards what it gets (the
// export's own work, in the background, is counted). Compare the sub-benchmarks of one
// run (benchstat): off is the request path without tracing, the others
// what tracing costs on it.
func BenchmarkKeygateProxyTracing(b *testing.B) {
	for _, ratio := range []string{"off", "0.1", "1"} {
		b.Run("tracing="+ratio, func(b *testing.B) {
			up := benchUpstream(b)
			cfg := benchConfig(b, "log: {access_log: false}\nroutes:\n  - {name: api, path_prefix: /api, upstream: %s, auth: none}\n", up.URL)
			opts := Options{Logger: benchLogger(io.Discard)}
			if ratio != "off" {
				rcv := otlptest.StartDiscarding(b)
				tcfg, err := config.Parse("t.yaml", []byte(fmt.Sprintf("tracing: {enabled: true, endpoint: %s, sample_ratio: %s}\nroutes:\n  - {name: api, path_prefix: /api, upstream: http://127.0.0.1:1, auth: none}\n", rcv.Endpoint(), ratio)), nil)
				if err != nil {
					b.Fatal(err)
				}
				tr, err := tracing.New(tcfg.Tracing, version.Info{Version: "bench"}, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { tr.Shutdown() }) // after the handler's Close
				opts.Tracer = tr.Tracer
			}
			runProxyBench(b, benchHandler(b, cfg, opts))
		})
	}
}
