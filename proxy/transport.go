package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/certfile"
)

// newTransport is the one Transport every route's ReverseProxy shares:
// connection reuse sized for a gateway (many idle connections per
// upstream host) and a deadline on every phase before the response.
// Routes whose upstream is a Unix socket get a synthetic host name that
// sockets maps to the socket's path.
func newTransport(c config.Upstream, sockets *socketMap, log *zap.Logger) (*http.Transport, error) {
	tc, err := upstreamTLS(c.TLS, log)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: c.DialTimeout, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy: nil, // never an environment proxy between keygate and its upstreams
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if path, ok := sockets.lookup(addr); ok {
				return d.DialContext(ctx, "unix", path)
			}
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConns:          0, // no global cap; MaxIdleConnsPerHost bounds each upstream
		MaxIdleConnsPerHost:   c.MaxIdleConnsPerHost,
		IdleConnTimeout:       c.IdleConnTimeout,
		TLSHandshakeTimeout:   c.TLSHandshakeTimeout,
		ResponseHeaderTimeout: c.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       tc,
	}
	if c.HTTP2 {
		// HTTP/2 over TLS (ALPN) and, toward cleartext upstreams, HTTP/2
		// with prior knowledge (h2c): the upstream must speak it.
		var p http.Protocols
		p.SetHTTP2(true)
		p.SetUnencryptedHTTP2(true)
		t.Protocols = &p
	}
	return t, nil
}

// upstreamTLS is the client TLS configuration toward https upstreams: the
// CA bundle to trust (default the system roots), a client certificate
// read again when its files change, and a server name to check instead of
// the URL's host.
func upstreamTLS(c config.UpstreamTLS, log *zap.Logger) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CAFile != "" {
		pool, err := certfile.CertPool(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("upstream.tls.ca_file: %w", err)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		kp, err := certfile.Load(c.CertFile, c.KeyFile, 0, log.Named("upstream_tls"))
		if err != nil {
			return nil, fmt.Errorf("upstream.tls.cert_file: %w", err)
		}
		tc.GetClientCertificate = kp.GetClientCertificate
	}
	return tc, nil
}

// socketMap maps the synthetic host names of Unix-socket upstreams
// ("unix-<route>:80") to socket paths. It is replaced whole on reload.
type socketMap struct {
	m atomic.Pointer[map[string]string]
}

func (s *socketMap) lookup(addr string) (string, bool) {
	m := s.m.Load()
	if m == nil {
		return "", false
	}
	p, ok := (*m)[addr]
	return p, ok
}

// bufferPool lends ReverseProxy its 32 KiB copy buffers.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { return new([32 << 10]byte) }}

func (bufferPool) Get() []byte { return buffers.Get().(*[32 << 10]byte)[:] }

func (bufferPool) Put(b []byte) {
	if len(b) == 32<<10 {
		buffers.Put((*[32 << 10]byte)(b))
	}
}

// setPath sets an outgoing URL's path from a canonical escaped path.
func setPath(u *url.URL, escaped string) {
	if strings.IndexByte(escaped, '%') < 0 {
		u.Path, u.RawPath = escaped, ""
		return
	}
	u.Path, u.RawPath = decode(escaped), escaped
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isConnect(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

// recorder remembers the status and size of the response for metrics and
// the access log. Unwrap lets http.ResponseController reach the
// connection's Flush and deadlines.
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader && code >= 200 {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Flush() {
	r.wroteHeader = true
	http.NewResponseController(r.ResponseWriter).Flush()
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
