package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
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
			cfg := benchConfig(b, "log: {access_log: false}\nroutes:\n  - {name: api, path_prefix: /api, upstream: %q, auth: none}\n", upstream)
			runProxyBench(b, benchHandler(b, cfg, Options{}))
		})
	}
}

// TestUpstreamConnectionsArePooled: under concurrency the upstream sees
// about one connection per concurrent request, reused for every later
// request, not a new connection per request (what a Transport with Go's
// default of two idle connections per host does at this concurrency). It
// covers the answers whose bodies keygate must drain or close for the
// connection to go back to the pool: a small body, a large one, an empty
// 204, and a streamed (chunked) one.
func TestUpstreamConnectionsArePooled(t *testing.T) {
	big := strings.Repeat("x", 256<<10)
	var accepted atomic.Int64
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			io.WriteString(w, big)
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/stream":
			for range 3 {
				io.WriteString(w, "chunk\n")
				w.(http.Flusher).Flush()
			}
		default:
			io.WriteString(w, `{"ok":true}`)
		}
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepted.Add(1)
		}
	}
	up.Start()
	defer up.Close()
	gw := newGateway(t, fmt.Sprintf("routes:\n  - {name: r, path_prefix: /, upstream: %s, auth: none}\n", up.URL), Options{})

	const workers, perWorker = 16, 40
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	paths := []string{"/small", "/big", "/empty", "/stream"}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				p := paths[(w+i)%len(paths)]
				resp, err := client.Get(gw.URL + p)
				if err != nil {
					errs <- err
					return
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode >= 300 {
					errs <- fmt.Errorf("GET %s: status %d, %v", p, resp.StatusCode, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// A connection can be dialled when a request arrives just before the
	// one that served the previous request is back in the pool, so allow
	// some slack over one per worker; a proxy that churns opens hundreds.
	if n := accepted.Load(); n > 2*workers {
		t.Errorf("the upstream accepted %d connections for %d requests from %d concurrent clients; want at most %d (pooled)", n, workers*perWorker, workers, 2*workers)
	}
	t.Logf("%d upstream connections for %d requests", accepted.Load(), workers*perWorker)
}
