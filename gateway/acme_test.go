package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/internal/testkit"
)

// testDomain is the name certificates are ordered for; the test's DNS
// server answers it with 127.0.0.1.
const testDomain = "api.keygate.example"

// pebble is an in-process Pebble ACME server (wired as its
// cmd/pebble/main.go does) whose validation authority really connects to
// keygate: it resolves names through dnsAddr and validates HTTP-01 and
// TLS-ALPN-01 on the ports given to validate.
type pebble struct {
	srv      *httptest.Server
	rootFile string // the ACME server's own HTTPS certificate, for tls.acme.ca_root_file
	ca       *ca.CAImpl
	orders   atomic.Int32 // new-order requests
	handler  atomic.Pointer[http.Handler]
	db       *db.MemoryStore
	log      *log.Logger
	logs     *testkit.Buffer
}

func startPebble(t *testing.T) *pebble {
	t.Helper()
	// No random sleeps before validation, no deliberately rejected nonces
	// (acmez would retry them; they only slow the test). Validation stays
	// real: PEBBLE_VA_ALWAYS_VALID is not set.
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	p := &pebble{db: db.NewMemoryStore(), logs: &testkit.Buffer{}}
	p.log = log.New(p.logs, "pebble ", log.Lmicroseconds)
	p.ca = ca.New(p.log, p.db, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/order-plz" {
			p.orders.Add(1)
		}
		h := p.handler.Load()
		if h == nil {
			http.Error(w, "pebble not ready", http.StatusServiceUnavailable)
			return
		}
		(*h).ServeHTTP(w, r)
	}))
	p.srv.StartTLS()
	t.Cleanup(func() {
		p.srv.Close()
		if t.Failed() || os.Getenv("KEYGATE_TEST_PEBBLE_LOG") != "" {
			t.Logf("pebble's log:\n%s", p.logs.String())
		}
	})
	p.rootFile = filepath.Join(t.TempDir(), "acme-server.pem")
	if err := os.WriteFile(p.rootFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// validate starts the VA and WFE: challenges are checked against
// httpPort (HTTP-01) and tlsPort (TLS-ALPN-01) of the address dnsAddr
// gives for the name.
func (p *pebble) validate(dnsAddr string, httpPort, tlsPort int) {
	v := va.New(p.log, httpPort, tlsPort, false, dnsAddr, p.db)
	w := wfe.New(p.log, p.db, v, p.ca, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	var h http.Handler = w.Handler()
	p.handler.Store(&h)
}

func (p *pebble) directory() string { return p.srv.URL + "/dir" }

// roots trusts the certificates Pebble issues.
func (p *pebble) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca.GetRootCert(0).Cert)
	return pool
}

// startDNS answers A queries for name and the names under it with
// 127.0.0.1 (and every other query with an empty answer) over TCP, which
// Pebble's VA uses.
func startDNS(t *testing.T, name string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: l, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			if q.Qtype == dns.TypeA && (strings.EqualFold(q.Name, dns.Fqdn(name)) || strings.HasSuffix(strings.ToLower(q.Name), "."+dns.Fqdn(name))) {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A:   net.IPv4(127, 0, 0, 1),
				})
			}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return l.Addr().String()
}

// TestACMEWithPebble: two keygate replicas on one Redis with tls.mode
// acme against Pebble. Replica B orders the certificate; Pebble's real
// validation connects to replica A, which answers from the challenge
// tokens B left in the store; A, starting while B holds CertMagic's lock
// in the store, orders nothing and serves the same certificate; a client
// that trusts only Pebble's root gets a request through keygate to the
// upstream; a third replica started later loads the certificate without
// ordering. Run for each challenge type. KEYGATE_TEST_PEBBLE_LOG=1 prints
// Pebble's log.
func TestACMEWithPebble(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream: %s %s over %s", r.Method, r.URL.Path, r.Header.Get("X-Forwarded-Proto"))
	}))
	defer up.Close()
	redis := redistest.Start(t)
	dnsAddr := startDNS(t, testDomain)

	for _, challenge := range []string{"tls-alpn-01", "http-01"} {
		t.Run(challenge, func(t *testing.T) {
			p := startPebble(t)
			prefix := redistest.Prefix(t)
			y := fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
health_listen: 127.0.0.1:0
store: {driver: redis, redis: {addrs: [%q], key_prefix: %q}}
tls:
  mode: acme
  http_listen: 127.0.0.1:0
  acme:
    domains: [%s]
    email: ops@keygate.example
    ca: %s
    ca_root_file: %s
    challenges: [%s]
routes:
  - {name: r, path_prefix: /, upstream: %s, auth: none}
`, redis.Addr(), prefix, testDomain, p.directory(), p.rootFile, challenge, up.URL)

			// Pebble validates against replica A only. Replica B is
			// started first and places the order; A starts serving once
			// the order is in, so the challenge is answered by the replica
			// that did not order it, from the tokens in the store.
			a, b := listening(t, parse(t, y), Options{}), listening(t, parse(t, y), Options{})
			p.validate(dnsAddr, portOf(a.HTTPAddr()), portOf(a.Addr()))
			serve(t, b)
			testkit.Eventually(t, 30*time.Second, "replica B placing an order", func() bool { return p.orders.Load() != 0 })
			serve(t, a)

			roots := p.roots()
			serialA := waitCertificate(t, a.Addr().String(), roots)
			serialB := waitCertificate(t, b.Addr().String(), roots)
			if serialA != serialB {
				t.Errorf("replicas serve different certificates: serial %s and %s", serialA, serialB)
			}
			_, metrics := getStatus(t, "http://"+a.HealthAddr().String()+"/metrics")
			expiry := fmt.Sprintf(`keygate_tls_certificate_expiry_timestamp_seconds{certificate=%q,source="acme"}`, testDomain)
			if got := seriesValue(t, metrics, expiry); got < float64(time.Now().Unix()) {
				t.Errorf("%s = %v, want a time to come", expiry, got)
			}
			if n := p.orders.Load(); n != 1 {
				t.Errorf("Pebble received %d orders, want 1 for two replicas", n)
			}

			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				TLSClientConfig:   &tls.Config{RootCAs: roots},
				ForceAttemptHTTP2: true,
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, network, b.Addr().String())
				},
			}}
			resp, err := client.Get("https://" + testDomain + "/hello")
			if err != nil {
				t.Fatalf("GET through keygate: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "upstream: GET /hello over https" || resp.ProtoMajor != 2 {
				t.Errorf("GET through keygate: %s %d %q", resp.Proto, resp.StatusCode, body)
			}

			// A third replica started later loads the certificate from the
			// store without ordering.
			c := listening(t, parse(t, y), Options{})
			serve(t, c)
			if got := waitCertificate(t, c.Addr().String(), roots); got != serialA {
				t.Errorf("a later replica serves serial %s, want %s", got, serialA)
			}
			if n := p.orders.Load(); n != 1 {
				t.Errorf("Pebble received %d orders after a third replica started, want 1", n)
			}
		})
	}
}

// TestACMEOnDemand: with on_demand_domains, the first handshake for an
// allowed name obtains its certificate from Pebble; a name outside the
// list gets no certificate and causes no order.
func TestACMEOnDemand(t *testing.T) {
	redis := redistest.Start(t)
	dnsAddr := startDNS(t, testDomain)
	p := startPebble(t)
	g := listening(t, parse(t, fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
health_listen: 127.0.0.1:0
store: {driver: redis, redis: {addrs: [%q], key_prefix: %q}}
tls:
  mode: acme
  acme: {ca: %s, ca_root_file: %s, on_demand_domains: ["*.tenants.%s"]}
routes:
  - {name: r, path_prefix: /, upstream: http://127.0.0.1:1, auth: none}
`, redis.Addr(), redistest.Prefix(t), p.directory(), p.rootFile, testDomain)), Options{})
	p.validate(dnsAddr, 0, portOf(g.Addr()))
	serve(t, g)

	dial := func(name string) error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", g.Addr().String(), &tls.Config{RootCAs: p.roots(), ServerName: name})
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial("acme.tenants." + testDomain); err != nil {
		t.Fatalf("first handshake for an allowed on-demand name: %v", err)
	}
	if n := p.orders.Load(); n != 1 {
		t.Errorf("%d orders after the allowed name, want 1", n)
	}
	for _, name := range []string{"evil.example", "a.b.tenants." + testDomain, testDomain} {
		if err := dial(name); err == nil {
			t.Errorf("handshake for %s (not allowed) succeeded", name)
		}
	}
	if n := p.orders.Load(); n != 1 {
		t.Errorf("%d orders after names outside the list, want still 1", n)
	}
}

func TestOnDemandDecision(t *testing.T) {
	allow := onDemandDecision(config.ACME{Domains: []string{"api.example.com"}, OnDemandDomains: []string{"*.tenants.example.com", "one.example.org"}})
	for name, want := range map[string]bool{
		"api.example.com":            true,
		"API.example.com.":           true,
		"a.tenants.example.com":      true,
		"one.example.org":            true,
		"tenants.example.com":        false,
		"a.b.tenants.example.com":    false,
		"atenants.example.com":       false,
		"two.example.org":            false,
		".tenants.example.com":       false,
		"example.com":                false,
		"a.tenants.example.com.evil": false,
	} {
		if got := allow(context.Background(), name) == nil; got != want {
			t.Errorf("on-demand decision for %q = %v, want %v", name, got, want)
		}
	}
}

// waitCertificate waits until addr completes a handshake for testDomain
// that verifies against roots, and returns the certificate's serial.
func waitCertificate(t *testing.T, addr string, roots *x509.CertPool) string {
	t.Helper()
	var serial string
	var err error
	defer func() {
		if serial == "" {
			t.Logf("last handshake with %s: %v", addr, err)
		}
	}()
	testkit.Eventually(t, 60*time.Second, "a certificate for "+testDomain+" from "+addr, func() bool {
		var c *tls.Conn
		c, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: roots, ServerName: testDomain})
		if err != nil {
			return false
		}
		serial = c.ConnectionState().PeerCertificates[0].SerialNumber.String()
		c.Close()
		return true
	})
	return serial
}
