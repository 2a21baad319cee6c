package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/testpki"
)

func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "test ca")
	caFile := ca.WriteCA(dir, "ca.pem")
	cert, key := ca.Server("localhost").Write(t, dir, "server")
	otherCert, _ := ca.Server("other").Write(t, dir, "other")
	missing := filepath.Join(dir, "missing.pem")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		set  func(c *Config)
		want []string // one problem each, in order; none means valid
	}{
		{"nothing named", func(c *Config) {}, nil},
		{"every file present", func(c *Config) {
			c.TLS.CertFile, c.TLS.KeyFile, c.TLS.ACME.CARootFile = cert, key, caFile
			c.Upstream.TLS = UpstreamTLS{CAFile: caFile, CertFile: cert, KeyFile: key}
			c.Store.Redis.TLS = ClientTLS{Enabled: true, CAFile: caFile, CertFile: cert, KeyFile: key}
		}, nil},
		{"missing server certificate", func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = missing, key },
			[]string{`tls.cert_file: cannot read "` + missing + `": no such file or directory`}},
		{"missing key and CA files", func(c *Config) {
			c.Upstream.TLS = UpstreamTLS{CAFile: missing, CertFile: cert, KeyFile: missing}
			c.Store.Redis.TLS = ClientTLS{Enabled: true, CAFile: missing}
			c.TLS.ACME.CARootFile = missing
		}, []string{
			`tls.acme.ca_root_file: cannot read "` + missing + `": no such file or directory`,
			`upstream.tls.ca_file: cannot read "` + missing + `": no such file or directory`,
			`upstream.tls.key_file: cannot read "` + missing + `": no such file or directory`,
			`store.redis.tls.ca_file: cannot read "` + missing + `": no such file or directory`,
		}},
		{"a directory", func(c *Config) { c.Upstream.TLS.CAFile = dir },
			[]string{`upstream.tls.ca_file: cannot read "` + dir + `": is a directory`}},
		{"CA file without a certificate", func(c *Config) { c.Store.Redis.TLS = ClientTLS{Enabled: true, CAFile: notPEM} },
			[]string{`store.redis.tls.ca_file: "` + notPEM + `" holds no PEM certificate`}},
		{"key of another certificate", func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = otherCert, key },
			[]string{`tls.cert_file: "` + otherCert + `" and tls.key_file "` + key + `" are not a certificate and its key: `}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			tc.set(&c)
			err := c.CheckFiles()
			var got []string
			if err != nil {
				for _, p := range Problems(err) {
					got = append(got, p.Error())
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("CheckFiles() = %q; want %d problems: %q", got, len(tc.want), tc.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("problem %d = %q; want %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}
