// Command upstream is the benchmark harness's stand-in API: an HTTP server
// that answers every request with 200 and the same small JSON body, doing as
// little work per request as it can so that the proxy in front of it is what
// a load test measures.
//
// It listens on -addr (default 127.0.0.1:9001), or on the Unix socket -unix
// when that is set, and stops on SIGINT or SIGTERM.
//
// GET /_bench/conns answers the number of connections it has accepted so
// far (that request's own included), so the harness can tell a proxy that
// pools its upstream connections from one that keeps dialling new ones.
//
//	upstream -addr 127.0.0.1:9001
//	upstream -unix /tmp/upstream.sock
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate/bench/internal/server"
)

// body is the fixed response: about 100 bytes, like a small API answer. It is
// built once, not per request, so the upstream's own work per request is a
// header assignment and a write.
var body = []byte(`{"ok":true,"service":"keygate-bench-upstream","item":{"id":42,"name":"widget","price":"9.99"}}` + "\n")

// Header values shared by every response; net/http only reads them.
var (
	contentType   = []string{"application/json"}
	contentLength = []string{strconv.Itoa(len(body))}
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "TCP address to listen on")
	unix := flag.String("unix", "", "Unix socket path to listen on instead of -addr")
	flag.Parse()

	if err := run(*addr, *unix); err != nil {
		log.Fatalf("upstream: %v", err)
	}
}

func run(addr, unix string) error {
	ln, err := listen(addr, unix)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(serve),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				accepted.Add(1)
			}
		},
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	log.Printf("upstream: listening on %s %s", ln.Addr().Network(), ln.Addr())
	return server.Run(srv, ln)
}

// listen opens the Unix socket when unix is set (replacing a stale socket
// file), and the TCP address otherwise.
func listen(addr, unix string) (net.Listener, error) {
	if unix == "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("listening on %s: %w", addr, err)
		}
		return ln, nil
	}
	if err := os.Remove(unix); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing stale socket: %w", err)
	}
	ln, err := net.Listen("unix", unix)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", unix, err)
	}
	return ln, nil
}

// accepted counts the connections the server has accepted.
var accepted atomic.Int64

// connsPath answers the accepted-connection count.
const connsPath = "/_bench/conns"

// serve answers every request with 200 and body. The request body, if any,
// is left to net/http, which drains a small one for keep-alive.
func serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == connsPath {
		_, _ = fmt.Fprintf(w, "%d\n", accepted.Load())
		return
	}
	h := w.Header()
	h["Content-Type"] = contentType
	h["Content-Length"] = contentLength
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
