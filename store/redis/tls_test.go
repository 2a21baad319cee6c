package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/internal/redistest"
	"github.com/keygate/keygate/internal/testpki"
	"github.com/keygate/keygate/store"
	"github.com/keygate/keygate/store/redis"
)

// TestTLS connects to a real redis-server that accepts only TLS clients
// with a certificate from its CA, on a certificate that names only
// redis.keygate.test (so server_name is needed to reach it by IP).
func TestTLS(t *testing.T) {
	ca, other := testpki.NewCA(t, "redis CA"), testpki.NewCA(t, "another CA")
	dir := t.TempDir()
	srvCert, srvKey := ca.Server("redis.keygate.test").Write(t, dir, "server")
	caFile, otherCA := ca.WriteCA(dir, "ca.pem"), other.WriteCA(dir, "other.pem")
	cliCert, cliKey := ca.Client("keygate").Write(t, dir, "client")
	strangerCert, strangerKey := other.Client("keygate").Write(t, dir, "stranger")
	srv := redistest.StartTLS(t, redistest.TLSFiles{CertFile: srvCert, KeyFile: srvKey, CAFile: caFile, RequireClientCert: true})

	good := config.ClientTLS{Enabled: true, CAFile: caFile, CertFile: cliCert, KeyFile: cliKey, ServerName: "redis.keygate.test"}
	tests := []struct {
		name string
		tls  func(c config.ClientTLS) config.ClientTLS
		ok   bool
	}{
		{"CA, client certificate and server name", func(c config.ClientTLS) config.ClientTLS { return c }, true},
		{"without TLS", func(c config.ClientTLS) config.ClientTLS { return config.ClientTLS{} }, false},
		{"without a client certificate", func(c config.ClientTLS) config.ClientTLS { c.CertFile, c.KeyFile = "", ""; return c }, false},
		{"a client certificate of another CA", func(c config.ClientTLS) config.ClientTLS { c.CertFile, c.KeyFile = strangerCert, strangerKey; return c }, false},
		{"another CA trusted", func(c config.ClientTLS) config.ClientTLS { c.CAFile = otherCA; return c }, false},
		{"the address checked against the certificate", func(c config.ClientTLS) config.ClientTLS { c.ServerName = ""; return c }, false},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Redis{Addrs: []string{srv.TLSAddr()}, KeyPrefix: redistest.Prefix(t), TLS: tc.tls(good), DialTimeout: 2 * time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second}
			s, err := redis.New(ctx, cfg, nil, nil)
			if !tc.ok {
				if err == nil {
					s.Close()
					t.Fatal("New succeeded")
				}
				if !errors.Is(err, store.ErrUnavailable) {
					t.Errorf("New: %v, want an error wrapping store.ErrUnavailable", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer s.Close()
			if _, err := s.Put(ctx, "k", []byte("over TLS"), store.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			if r, err := s.Get(ctx, "k"); err != nil || string(r.Value) != "over TLS" {
				t.Errorf("Get = %q, %v", r.Value, err)
			}
		})
	}
}
