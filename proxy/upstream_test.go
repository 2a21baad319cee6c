package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/echo"
)

// unixUpstream serves the echo handler (or h) on a Unix socket.
func unixUpstream(t testing.TB, h ...http.Handler) string {
	sock := filepath.Join(t.TempDir(), "app.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream", "unix")
		echo.Handler{}.ServeHTTP(w, r)
	})}
	if len(h) > 0 {
		srv.Handler = h[0]
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func TestUnixSocketUpstream(t *testing.T) {
	sock := unixUpstream(t)
	gw := newGateway(t, fmt.Sprintf("routes:\n  - {name: app, path_prefix: /app, upstream: \"unix://%s\", auth: none}\n", sock), Options{})
	resp, body := rawGet(t, gw.Listener.Addr().String(), "/app/x?q=1")
	if resp.StatusCode != 200 || resp.Header.Get("X-Upstream") != "unix" {
		t.Fatalf("status %d, upstream %q: %s", resp.StatusCode, resp.Header.Get("X-Upstream"), body)
	}
	if got := echoed(t, body); got.Path != "/app/x" || got.Query != "q=1" {
		t.Errorf("upstream got %+v", got)
	}
	// Reload onto another socket: the new one is dialled.
	sock2 := unixUpstream(t)
	cfg, err := config.Parse("t.yaml", []byte(fmt.Sprintf("routes:\n  - {name: app, path_prefix: /app, upstream: \"unix://%s\", auth: none}\n", sock2)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.h.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	gw.h.Close() // drop idle connections to the first socket
	if resp, _ := rawGet(t, gw.Listener.Addr().String(), "/app/y"); resp.StatusCode != 200 {
		t.Errorf("after reload: %d", resp.StatusCode)
	}
}

func TestHTTP2Upstream(t *testing.T) {
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d", r.ProtoMajor)
	}))
	up.Config.Protocols = &protos
	up.Start()
	defer up.Close()
	for _, c := range []struct {
		http2 bool
		want  string
	}{{false, "1"}, {true, "2"}} {
		gw := newGateway(t, fmt.Sprintf("upstream: {http2: %v}\nroutes:\n  - {name: r, path_prefix: /, upstream: %s, auth: none}\n", c.http2, up.URL), Options{})
		resp, err := http.Get(gw.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != c.want {
			t.Errorf("upstream.http2 %v: upstream saw HTTP/%s, want HTTP/%s", c.http2, b, c.want)
		}
	}
}

// BenchmarkUpstreamNetwork compares an upstream on TCP loopback with the
// same upstream on a Unix socket, through keygate.
func BenchmarkUpstreamNetwork(b *testing.B) {
	tcp := benchUpstream(b)
	sock := unixUpstream(b, tcp.Config.Handler) // the same handler on both
	for name, upstream := range map[string]string{"tcp": tcp.URL, "unix": "unix://" + sock} {
		b.Run(name, func(b *testing.B) {
			cfg, err := config.Parse("b.yaml", []byte(fmt.Sprintf("log: {access_log: false}\nroutes:\n  - {name: api, path_prefix: /api, upstream: %q, auth: none}\n", upstream)), nil)
			if err != nil {
				b.Fatal(err)
			}
			h, err := New(cfg, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			runProxyBench(b, h)
		})
	}
}
