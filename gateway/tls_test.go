package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/keygate/keygate/internal/testkit"
	"github.com/keygate/keygate/internal/testpki"
)

// tlsClient trusts roots, speaks HTTP/2 when offered and never follows
// redirects.
func tlsClient(roots *x509.CertPool, serverName string) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: serverName},
			ForceAttemptHTTP2: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
}

// servedSerial is the serial of the certificate the listener at addr
// presents for serverName (verified against roots).
func servedSerial(t *testing.T, addr, serverName string, roots *x509.CertPool) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: serverName})
	if err != nil {
		t.Fatalf("TLS handshake with %s for %s: %v", addr, serverName, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func TestTLSFiles(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream saw %s %s proto=%s", r.Method, r.URL.RequestURI(), r.Header.Get("X-Forwarded-Proto"))
	}))
	defer up.Close()
	ca := testpki.NewCA(t, "keygate test CA")
	dir := t.TempDir()
	first := ca.Server("api.keygate.test")
	certFile, keyFile := first.Write(t, dir, "tls")

	cfg := parse(t, fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
health_listen: 127.0.0.1:0
store: {embedded: {path: %q}}
tls: {mode: files, cert_file: %q, key_file: %q, http_listen: "127.0.0.1:0"}
routes:
  - {name: r, path_prefix: /, upstream: %s, auth: none}
`, filepath.Join(dir, "k.db"), certFile, keyFile, up.URL))
	g, _ := start(t, cfg)
	addr := g.Addr().String()
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	client := tlsClient(ca.Pool(), "api.keygate.test")

	resp, err := client.Get("https://" + addr + "/v1/x?q=1")
	if err != nil {
		t.Fatalf("GET over TLS: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "upstream saw GET /v1/x?q=1 proto=https" {
		t.Fatalf("GET over TLS: %d %q", resp.StatusCode, body)
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol %s, want HTTP/2 by ALPN", resp.Proto)
	}

	// tls.http_listen redirects to the TLS listener.
	resp, err = client.Post("http://"+g.HTTPAddr().String()+"/v1/x?q=1", "text/plain", strings.NewReader("b"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "https://127.0.0.1:" + port + "/v1/x?q=1"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Errorf("plain HTTP: %d Location %q, want 308 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
	}

	// Plain HTTP on the TLS port is refused.
	if resp, err := http.Get("http://" + addr + "/"); err == nil && resp.StatusCode == 200 {
		t.Error("plain HTTP on the TLS listener was served")
	}

	// The files change: new handshakes get the new certificate, without a
	// restart.
	second := ca.Server("api.keygate.test")
	second.Write(t, dir, "tls")
	want := second.Cert.SerialNumber.String()
	testkit.Eventually(t, 10*time.Second, "the rewritten certificate served", func() bool {
		return servedSerial(t, addr, "api.keygate.test", ca.Pool()) == want
	})
	// The expiry gauge (issue 19.2) follows the certificate served.
	_, metrics := getStatus(t, "http://"+g.HealthAddr().String()+"/metrics")
	expiry := `keygate_tls_certificate_expiry_timestamp_seconds{certificate="api.keygate.test",source="files"}`
	if got, want := seriesValue(t, metrics, expiry), float64(second.Cert.NotAfter.Unix()); got != want {
		t.Errorf("%s = %v, want %v (the rewritten certificate's NotAfter)", expiry, got, want)
	}
}

func TestTLSMinVersion(t *testing.T) {
	ca := testpki.NewCA(t, "keygate test CA")
	dir := t.TempDir()
	certFile, keyFile := ca.Server("api.keygate.test").Write(t, dir, "tls")
	for _, c := range []struct {
		min     string
		max     uint16
		refused bool
	}{
		{"1.2", tls.VersionTLS12, false},
		{"1.3", tls.VersionTLS12, true},
		{"1.3", tls.VersionTLS13, false},
		{"1.2", tls.VersionTLS11, true},
	} {
		cfg := parse(t, fmt.Sprintf("listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nhealth_listen: 127.0.0.1:0\nstore: {embedded: {path: %q}}\ntls: {mode: files, min_version: %q, cert_file: %q, key_file: %q}\n%s",
			filepath.Join(t.TempDir(), "k.db"), c.min, certFile, keyFile, route))
		g, stop := start(t, cfg)
		conn, err := tls.Dial("tcp", g.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "api.keygate.test", MinVersion: tls.VersionTLS10, MaxVersion: c.max})
		if err == nil {
			conn.Close()
		}
		if (err != nil) != c.refused {
			t.Errorf("min_version %s, client up to %s: handshake error %v, want refused=%v", c.min, tls.VersionName(c.max), err, c.refused)
		}
		stop()
	}
}

func TestTLSFilesErrorNamesField(t *testing.T) {
	dir := t.TempDir()
	cfg := parse(t, fmt.Sprintf("listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nhealth_listen: 127.0.0.1:0\nstore: {embedded: {path: %q}}\ntls: {mode: files, cert_file: %q, key_file: %q}\n%s",
		filepath.Join(dir, "k.db"), filepath.Join(dir, "no.crt"), filepath.Join(dir, "no.key"), route))
	g, err := New(t.Context(), cfg, Options{Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.Listen(); err == nil || !strings.HasPrefix(err.Error(), "tls.cert_file: ") {
		t.Errorf("Listen with missing certificate files: %v, want an error naming tls.cert_file", err)
	}
}
