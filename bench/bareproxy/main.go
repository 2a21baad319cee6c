// Command bareproxy is the benchmark harness's baseline: a bare
// httputil.ReverseProxy in front of one upstream, with nothing else on the
// request path (no routing, no authentication, no logging, no metrics).
//
// By default its Transport and server are tuned like keygate's, so that the
// difference between the two is the cost of what keygate adds. With -default
// it is instead the proxy a user writes by hand:
// httputil.NewSingleHostReverseProxy with http.DefaultTransport, whose two
// idle connections per host make it open new upstream connections under
// concurrency.
//
//	bareproxy -addr 127.0.0.1:9002 -upstream http://127.0.0.1:9001
//	bareproxy -addr 127.0.0.1:9004 -upstream http://127.0.0.1:9001 -default
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/keygate/keygate/bench/internal/server"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9002", "TCP address to listen on")
	upstream := flag.String("upstream", "http://127.0.0.1:9001", "upstream base URL")
	byHand := flag.Bool("default", false, "use httputil.NewSingleHostReverseProxy with http.DefaultTransport")
	flag.Parse()

	if err := run(*addr, *upstream, *byHand); err != nil {
		log.Fatalf("bareproxy: %v", err)
	}
}

func run(addr, upstream string, byHand bool) error {
	target, err := url.Parse(upstream)
	if err != nil {
		return fmt.Errorf("parsing -upstream: %w", err)
	}
	if target.Scheme != "http" && target.Scheme != "https" || target.Host == "" {
		return fmt.Errorf("-upstream %q: want an http or https URL with a host", upstream)
	}

	var handler http.Handler
	if byHand {
		handler = httputil.NewSingleHostReverseProxy(target)
	} else {
		handler = tuned(target)
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
	}
	log.Printf("bareproxy: listening on %s, upstream %s, default=%t", ln.Addr(), target, byHand)
	return server.Run(srv, ln)
}

// tuned returns a ReverseProxy to target whose Transport has keygate's
// settings (config.DefaultUpstream*): the same timeouts, 256 idle connections
// per host, HTTP/1.1 only, and pooled 32 KiB copy buffers.
func tuned(target *url.URL) *httputil.ReverseProxy {
	dialer := &net.Dialer{
		Timeout:   5 * time.Second,
		KeepAlive: 30 * time.Second,
	}
	transport := &http.Transport{
		Proxy:                 nil, // keygate does not honour HTTP_PROXY for its upstreams
		DialContext:           dialer.DialContext,
		MaxIdleConns:          0, // unlimited
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ForceAttemptHTTP2:     false,
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport:  transport,
		BufferPool: &bufferPool{},
	}
}

// bufSize is the size of the proxy's copy buffers, as in io.Copy.
const bufSize = 32 << 10

// bufferPool is an httputil.BufferPool of 32 KiB buffers. It pools array
// pointers rather than slices, so Get and Put allocate nothing.
type bufferPool struct {
	pool sync.Pool
}

var _ httputil.BufferPool = (*bufferPool)(nil)

// Get returns a 32 KiB buffer, new if the pool is empty.
func (p *bufferPool) Get() []byte {
	if b, ok := p.pool.Get().(*[bufSize]byte); ok {
		return b[:]
	}
	return new([bufSize]byte)[:]
}

// Put returns b to the pool; buffers of another capacity are dropped.
func (p *bufferPool) Put(b []byte) {
	if cap(b) != bufSize {
		return
	}
	p.pool.Put((*[bufSize]byte)(b[:bufSize]))
}
