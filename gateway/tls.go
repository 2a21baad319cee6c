package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/certfile"
)

// publicTLS is what tls.mode adds to the public listener: the tls.Config
// its listener is wrapped in, the handler of tls.http_listen, and for acme
// the certificate manager's start and stop.
type publicTLS struct {
	config *tls.Config
	// plain serves tls.http_listen: a redirect to https (and, in acme
	// mode, the HTTP-01 challenges).
	plain http.Handler
	// manage starts obtaining and renewing certificates (acme); nil in
	// files mode.
	manage func(ctx context.Context) error
	// stop ends the certificate manager's background work.
	stop func()
}

// buildTLS builds the public listener's TLS from the config once the
// listeners are bound: publicPort is where TLS is served (for the
// redirect's target and the TLS-ALPN-01 solver) and httpPort where
// tls.http_listen is (for the HTTP-01 solver), 0 if it is not set.
//
// TLS 1.2 is the default minimum: every client still in use speaks it,
// and Go offers only forward-secret AEAD suites with it by default;
// tls.min_version "1.3" is for deployments whose clients all speak 1.3.
// ALPN offers h2 and http/1.1 (and acme-tls/1 for the CA's TLS-ALPN-01
// validation, which certmagic answers during the handshake).
func (g *Gateway) buildTLS(cfg *config.Config, publicPort, httpPort int) (*publicTLS, error) {
	t := cfg.TLS
	minVersion := uint16(tls.VersionTLS12)
	if t.MinVersion == "1.3" {
		minVersion = tls.VersionTLS13
	}
	var p *publicTLS
	switch t.Mode {
	case config.TLSFiles:
		kp, err := certfile.Load(t.CertFile, t.KeyFile, 0, g.log.Named("tls"))
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file: %w", err)
		}
		g.metrics.certs.set(filesCert(kp.Certificate))
		p = &publicTLS{
			config: &tls.Config{GetCertificate: kp.GetCertificate},
			plain:  redirectToHTTPS(publicPort),
			stop:   func() {},
		}
	case config.TLSACME:
		var err error
		if p, err = g.buildACME(cfg, publicPort, httpPort); err != nil {
			return nil, err
		}
	default:
		return nil, nil
	}
	p.config.MinVersion = minVersion
	p.config.NextProtos = append([]string{"h2", "http/1.1"}, p.config.NextProtos...)
	return p, nil
}

// redirectToHTTPS answers every request with a permanent redirect (308,
// so a client keeps its method and body) to the same host and target on
// https, at port (left out when it is 443).
func redirectToHTTPS(port int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host == "" {
			http.Error(w, "Host header required", http.StatusBadRequest)
			return
		}
		if port != 443 {
			host = net.JoinHostPort(host, strconv.Itoa(port))
		} else if net.ParseIP(host) != nil && net.ParseIP(host).To4() == nil {
			host = "[" + host + "]"
		}
		w.Header().Set("Connection", "close")
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}

// portOf is the port of a bound listener's address.
func portOf(a net.Addr) int {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.Port
	}
	return 0
}
