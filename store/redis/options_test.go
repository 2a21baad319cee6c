package redis

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/testpki"
)

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		cfg     config.Redis
		wantErr string
		check   func(t *testing.T, c config.Redis)
	}{
		{name: "no addrs", wantErr: "no addrs"},
		{name: "cluster and sentinel", cfg: config.Redis{Addrs: []string{"a:1"}, Cluster: true, MasterName: "m"}, wantErr: "exclude"},
		{name: "cluster with db", cfg: config.Redis{Addrs: []string{"a:1"}, Cluster: true, DB: 1}, wantErr: "db must be 0"},
		{name: "several addrs without mode", cfg: config.Redis{Addrs: []string{"a:1", "b:1"}}, wantErr: "master_name"},
		{name: "single", cfg: config.Redis{Addrs: []string{"a:1"}, Username: "u", Password: "p", DB: 2, PoolSize: 7, ReadTimeout: time.Second}},
		{name: "sentinel", cfg: config.Redis{Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "mymaster", SentinelUsername: "su", SentinelPassword: "sp"}},
		{name: "cluster", cfg: config.Redis{Addrs: []string{"c1:6379"}, Cluster: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := options(tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("options: got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("options: %v", err)
			}
			c := tc.cfg
			if o.MasterName != c.MasterName || o.IsClusterMode != c.Cluster || o.DB != c.DB ||
				o.Username != c.Username || o.Password != c.Password || o.PoolSize != c.PoolSize ||
				o.SentinelUsername != c.SentinelUsername || o.SentinelPassword != c.SentinelPassword ||
				o.ReadTimeout != c.ReadTimeout || !o.ContextTimeoutEnabled || o.TLSConfig != nil {
				t.Errorf("options(%+v) = %+v: fields not carried over", c, o)
			}
		})
	}
}

func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := writeCerts(t, dir)
	tc, err := tlsConfig(config.ClientTLS{Enabled: true, CAFile: ca, CertFile: cert, KeyFile: key, ServerName: "redis.internal"})
	if err != nil {
		t.Fatalf("tlsConfig: %v", err)
	}
	if tc.MinVersion != tls.VersionTLS12 || tc.ServerName != "redis.internal" || tc.RootCAs == nil || len(tc.Certificates) != 1 {
		t.Errorf("tlsConfig: got MinVersion %x ServerName %q RootCAs %v, %d certificates; want TLS1.2, redis.internal, a pool, 1",
			tc.MinVersion, tc.ServerName, tc.RootCAs != nil, len(tc.Certificates))
	}
	if tc, err := tlsConfig(config.ClientTLS{CAFile: ca}); tc != nil || err != nil {
		t.Errorf("tlsConfig disabled: got (%v, %v), want (nil, nil)", tc, err)
	}
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := []config.ClientTLS{
		{Enabled: true, CAFile: filepath.Join(dir, "missing.pem")},
		{Enabled: true, CAFile: notPEM},
		{Enabled: true, CertFile: cert},
		{Enabled: true, CertFile: cert, KeyFile: notPEM},
	}
	for _, c := range bad {
		if _, err := tlsConfig(c); err == nil {
			t.Errorf("tlsConfig(%+v): no error", c)
		}
	}
}

// writeCerts writes a CA and a client certificate it issued, with its key,
// and returns their paths.
func writeCerts(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	authority := testpki.NewCA(t, "keygate test")
	cert, key = authority.Client("keygate test").Write(t, dir, "client")
	return authority.WriteCA(dir, "ca.pem"), cert, key
}
