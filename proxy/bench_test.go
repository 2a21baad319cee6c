package proxy

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/keygate/keygate/config"
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

func runProxyBench(b *testing.B, h http.Handler) {
	req := httptest.NewRequest("GET", "http://gw.test/api/v1/items/42", nil)
	req.RemoteAddr = "192.0.2.10:1234"
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

func BenchmarkBareProxy(b *testing.B) {
	up := benchUpstream(b)
	target, _ := url.Parse(up.URL)
	var c config.Config
	cfg, _ := config.Parse("b.yaml", []byte(fmt.Sprintf("routes:\n  - {name: api, path_prefix: /api, upstream: %s, auth: none}\n", up.URL)), nil)
	c = *cfg
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport:  newTransport(c.Upstream),
		BufferPool: bufferPool{},
	}
	runProxyBench(b, rp)
}

func BenchmarkKeygateProxy(b *testing.B) {
	for _, accessLog := range []bool{false, true} {
		b.Run(fmt.Sprintf("access_log=%v", accessLog), func(b *testing.B) {
			up := benchUpstream(b)
			cfg, err := config.Parse("b.yaml", []byte(fmt.Sprintf("log: {access_log: %v}\nroutes:\n  - {name: api, path_prefix: /api, upstream: %s, auth: none}\n", accessLog, up.URL)), nil)
			if err != nil {
				b.Fatal(err)
			}
			h, err := New(cfg, Options{Logger: benchLogger(io.Discard)})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			runProxyBench(b, h)
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
