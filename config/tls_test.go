package config

import (
	"slices"
	"strings"
	"testing"
)

const tlsRoutes = "routes:\n  - {name: r, path_prefix: /, upstream: http://h, auth: none}\n"

func TestTLSValidation(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // each must appear exactly once in the error
	}{
		{"unknown mode", "tls: {mode: on}\n", []string{`tls.mode: "on" is not one of off, files, acme`}},
		{"files without files", "tls: {mode: files}\n", []string{
			"tls.cert_file: required when tls.mode is files",
			"tls.key_file: required when tls.mode is files",
		}},
		{"files fields with mode off", "tls: {cert_file: c.pem, http_listen: ':80'}\n", []string{
			"tls.cert_file: set only when tls.mode is files",
			"tls.http_listen: needs tls.mode files or acme",
		}},
		{"acme fields with mode files", "tls: {mode: files, cert_file: c, key_file: k, acme: {domains: [a.example]}}\n", []string{
			"tls.acme: set only when tls.mode is acme",
		}},
		{"min version", "tls: {min_version: '1.1'}\n", []string{`tls.min_version: "1.1" is not one of 1.2, 1.3`}},
		{"acme without domains", "tls: {mode: acme}\n", []string{"tls.acme.domains: required when tls.mode is acme"}},
		{"acme bad fields", `tls:
  mode: acme
  http_listen: ":8080"
  acme:
    domains: ["*.example.com", "bad_name", ok.example.com]
    on_demand_domains: ["*.", "*.tenants.example.com"]
    ca: http://ca.example/dir
    email: "not an email"
    challenges: [http-01, dns-01, http-01]
`, []string{
			"tls.http_listen: must differ from listen, admin_listen and health_listen",
			`tls.acme.domains[0]: "*.example.com": a wildcard certificate needs the DNS-01 challenge`,
			`tls.acme.domains[1]: "bad_name" is not a host name`,
			`tls.acme.on_demand_domains[0]: "*" is not a host name`,
			`tls.acme.ca: "http://ca.example/dir" is not an https URL`,
			`tls.acme.email: "not an email" is not an email address`,
			`tls.acme.challenges[1]: "dns-01" is not one of http-01, tls-alpn-01`,
			`tls.acme.challenges[2]: "http-01" is listed twice`,
		}},
		{"http-01 without http_listen", "tls: {mode: acme, acme: {domains: [a.example], challenges: [http-01]}}\n", []string{
			"tls.acme.challenges[0]: http-01 needs tls.http_listen",
		}},
		{"no challenge", "tls: {mode: acme, acme: {domains: [a.example], challenges: []}}\n", []string{
			"tls.acme.challenges: at least one of http-01, tls-alpn-01 is required",
		}},
		{"upstream client cert half", "upstream: {tls: {cert_file: c.pem}}\n", []string{
			"upstream.tls: cert_file and key_file go together",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.yaml+tlsRoutes), nil)
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", tc.yaml)
			}
			for _, w := range tc.want {
				if n := strings.Count(err.Error(), w); n != 1 {
					t.Errorf("%q appears %d times in:\n%v", w, n, err)
				}
			}
			if n, w := len(Problems(err)), len(tc.want); n != w {
				t.Errorf("%d problems, want %d:\n%v", n, w, err)
			}
		})
	}
}

func TestTLSDefaults(t *testing.T) {
	cfg, err := Parse("t.yaml", []byte(tlsRoutes), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS.Mode != TLSOff || cfg.TLS.MinVersion != "1.2" || cfg.TLS.ACME.CA != "" {
		t.Errorf("tls defaults with no tls section: %+v", cfg.TLS)
	}

	cfg, err = Parse("t.yaml", []byte("listen: ':443'\ntls: {mode: acme, acme: {domains: [API.Example.com.]}}\n"+tlsRoutes), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.TLS.ACME
	if a.CA != DefaultACMEDirectory || !slices.Equal(a.Challenges, []string{ChallengeTLSALPN01}) || a.Domains[0] != "api.example.com" {
		t.Errorf("acme defaults without http_listen: %+v", a)
	}

	cfg, err = Parse("t.yaml", []byte("listen: ':443'\ntls: {mode: acme, http_listen: ':80', acme: {on_demand_domains: ['*.t.example']}}\n"+tlsRoutes), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.TLS.ACME.Challenges; !slices.Equal(got, []string{ChallengeTLSALPN01, ChallengeHTTP01}) {
		t.Errorf("acme challenges with http_listen = %v, want both", got)
	}
}
