package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/config"
)

// Every config the harness writes must be one keygate accepts, with the
// settings the target is about.
func TestLoadTargetConfigs(t *testing.T) {
	r := &loadRun{o: &loadOptions{}, lab: &lab{work: t.TempDir()}, upSock: "/tmp/keygate-bench/upstream.sock"}
	for _, tg := range targets {
		if tg.kind != "keygate" {
			continue
		}
		t.Run(tg.name, func(t *testing.T) {
			c := r.keygateConfig(tg, "http://127.0.0.1:9001")
			cfg, err := config.Parse(tg.name+".yaml", []byte(c.yaml()), nil)
			if err != nil {
				t.Fatalf("keygate refuses the config:\n%s\n%v", c.yaml(), err)
			}
			if len(cfg.Routes) != 1 {
				t.Fatalf("%d routes, want 1", len(cfg.Routes))
			}
			route := cfg.Routes[0]
			if route.Auth != tg.auth {
				t.Errorf("route auth %q, want %q", route.Auth, tg.auth)
			}
			if wantUnix := tg.unix; strings.HasPrefix(route.Upstream, "unix://") != wantUnix {
				t.Errorf("route upstream %q, want a Unix socket: %t", route.Upstream, wantUnix)
			}
			if got := cfg.Log.AccessLogEnabled(); got != tg.accessLog {
				t.Errorf("access log %t, want %t", got, tg.accessLog)
			}
			if got := cfg.Auth.FailureLimit.On(); got == tg.unknown && tg.auth == "required" {
				t.Errorf("failure limit on: %t, want %t", got, !tg.unknown)
			}
			if cfg.ForwardAuth.On() != tg.check {
				t.Errorf("forward_auth on: %t, want %t", cfg.ForwardAuth.On(), tg.check)
			}
			if tg.identity == "[user]" && !slices.Equal(cfg.Auth.UpstreamIdentity, []string{"user"}) {
				t.Errorf("upstream_identity %v, want [user]", cfg.Auth.UpstreamIdentity)
			}
			if tg.sidecar {
				// deploy/kubernetes/sidecar's settings, and the variant's
				// runtime section.
				if cfg.Log.Format != "json" || cfg.Log.Level != "info" || cfg.Auth.CacheTTL != 15*time.Second ||
					cfg.Auth.StaleIfError != time.Minute || len(cfg.Auth.EncryptionKeys) != 1 {
					t.Errorf("log %+v, cache_ttl %v, stale_if_error %v, %d encryption keys: not the sidecar's",
						cfg.Log, cfg.Auth.CacheTTL, cfg.Auth.StaleIfError, len(cfg.Auth.EncryptionKeys))
				}
				if cfg.Store.Driver != "redis" {
					t.Errorf("store driver %q, want redis", cfg.Store.Driver)
				}
				if want := tg.runtime; want != "" && !strings.Contains(c.yaml(), "runtime: "+want+"\n") {
					t.Errorf("no runtime section %s in\n%s", want, c.yaml())
				}
			}
			switch {
			case tg.sidecar:
			case tg.limitMode == "":
				if route.RateLimit != nil {
					t.Errorf("a rate limit on %s", tg.name)
				}
				if cfg.Store.Driver != "embedded" {
					t.Errorf("store driver %q, want embedded", cfg.Store.Driver)
				}
			case route.RateLimit == nil || route.RateLimit.Mode != tg.limitMode:
				t.Errorf("rate limit %+v, want mode %s", route.RateLimit, tg.limitMode)
			case cfg.Store.Driver != "redis":
				t.Errorf("store driver %q, want redis", cfg.Store.Driver)
			}
		})
	}
}

// The instruction counts' and the paired run's configs, and the runtime and
// upstream sections the load flags add.
func TestOtherConfigs(t *testing.T) {
	base := keygateConfig{Listen: "127.0.0.1:9302", Health: "127.0.0.1:9392", StorePath: "/tmp/k.db", Upstream: "http://127.0.0.1:9301"}
	tests := []struct {
		name   string
		change func(*keygateConfig)
		check  func(*config.Config) bool
	}{
		{"auth none with a digest key", func(c *keygateConfig) { c.Auth, c.Secret = "none", newSecret() },
			func(c *config.Config) bool { return c.Routes[0].Auth == "none" }},
		{"no identity headers", func(c *keygateConfig) { c.Auth, c.Secret, c.Identity = "required", newSecret(), "[]" },
			func(c *config.Config) bool {
				return c.Routes[0].Auth == "required" && len(c.Auth.UpstreamIdentity) == 0
			}},
		{"runtime and upstream sections", func(c *keygateConfig) {
			c.Auth, c.Runtime, c.UpstreamSection = "none", "{gc_percent: 100}", "{max_idle_conns_per_host: 1024}"
		}, func(c *config.Config) bool { return c.Runtime.GCPercent == 100 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.change(&c)
			cfg, err := config.Parse("harness.yaml", []byte(c.yaml()), nil)
			if err != nil {
				t.Fatalf("keygate refuses the config:\n%s\n%v", c.yaml(), err)
			}
			if !tt.check(cfg) {
				t.Errorf("config does not say what it should:\n%s", c.yaml())
			}
		})
	}
}

func TestWriteNginxConfig(t *testing.T) {
	dir := t.TempDir()
	if err := writeNginxConfig(dir, "127.0.0.1:9009", "127.0.0.1:9001", "Bearer kgl_abc"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"listen 127.0.0.1:9009;", "server 127.0.0.1:9001;", `"Bearer kgl_abc" bench;`,
		"master_process off;", "pid " + dir + "/nginx.pid;", "proxy_set_header Authorization \"\";"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("nginx.conf has no %q:\n%s", want, b)
		}
	}
	for _, d := range []string{"tmp", "logs"} {
		if st, err := os.Stat(filepath.Join(dir, d)); err != nil || !st.IsDir() {
			t.Errorf("no %s directory: %v", d, err)
		}
	}
}
