package proxy

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/testpki"
)

// TestUpstreamTLS sends requests to an https upstream that requires a
// client certificate from its CA and whose certificate names only
// app.internal, while the route addresses it by IP.
func TestUpstreamTLS(t *testing.T) {
	ca := testpki.NewCA(t, "upstream CA")
	other := testpki.NewCA(t, "another CA")
	dir := t.TempDir()
	caFile := ca.WriteCA(dir, "ca.pem")
	otherCA := other.WriteCA(dir, "other.pem")
	certFile, keyFile := ca.Client("keygate").Write(t, dir, "client")
	strangerCert, strangerKey := other.Client("keygate").Write(t, dir, "stranger")

	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "client=%s", r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	up.TLS = &tls.Config{
		Certificates: []tls.Certificate{ca.Server("app.internal").TLS()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.Pool(),
	}
	up.StartTLS()
	defer up.Close()

	tests := []struct {
		name     string
		tls      string
		upstream string
		want     int
	}{
		{"trusted CA, client certificate, server name", fmt.Sprintf("{ca_file: %s, cert_file: %s, key_file: %s, server_name: app.internal}", caFile, certFile, keyFile), up.URL, 200},
		{"without a client certificate", fmt.Sprintf("{ca_file: %s, server_name: app.internal}", caFile), up.URL, 502},
		{"a client certificate of another CA", fmt.Sprintf("{ca_file: %s, cert_file: %s, key_file: %s, server_name: app.internal}", caFile, strangerCert, strangerKey), up.URL, 502},
		{"the system roots", fmt.Sprintf("{cert_file: %s, key_file: %s, server_name: app.internal}", certFile, keyFile), up.URL, 502},
		{"another CA trusted", fmt.Sprintf("{ca_file: %s, cert_file: %s, key_file: %s, server_name: app.internal}", otherCA, certFile, keyFile), up.URL, 502},
		{"the IP checked against the certificate", fmt.Sprintf("{ca_file: %s, cert_file: %s, key_file: %s}", caFile, certFile, keyFile), up.URL, 502},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gw := newGateway(t, fmt.Sprintf("upstream: {tls: %s}\nroutes:\n  - {name: app, path_prefix: /, upstream: %s, auth: none}\n", tc.tls, tc.upstream), Options{})
			resp, body := rawGet(t, gw.Listener.Addr().String(), "/x")
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			if tc.want == 200 && body != "client=keygate" {
				t.Errorf("upstream answered %q, want client=keygate", body)
			}
		})
	}
}

func TestUpstreamTLSFileErrors(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "upstream CA")
	certFile, _ := ca.Client("keygate").Write(t, dir, "client")
	for _, c := range []struct{ tls, want string }{
		{fmt.Sprintf("{ca_file: %s/missing.pem}", dir), "upstream.tls.ca_file"},
		{fmt.Sprintf("{ca_file: %s}", certFile+".key"), "upstream.tls.ca_file"},
		{fmt.Sprintf("{cert_file: %s, key_file: %s/missing.key}", certFile, dir), "upstream.tls.cert_file"},
	} {
		cfg, err := config.Parse("t.yaml", []byte(fmt.Sprintf("upstream: {tls: %s}\nroutes:\n  - {name: app, path_prefix: /, upstream: https://h, auth: none}\n", c.tls)), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("upstream.tls %s: New error %v, want one naming %s", c.tls, err, c.want)
		}
	}
}
