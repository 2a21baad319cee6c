package config

import (
	"net/netip"
	"slices"
	"testing"
)

// TestParsedValues: Validate keeps trusted_proxies and the routes'
// upstreams parsed, so that the components read typed values; a config
// that was never validated hands out none (an error, a nil URL) rather
// than an empty trust list.
func TestParsedValues(t *testing.T) {
	cfg, err := Parse("t.yaml", []byte(`
trusted_proxies: [10.0.0.0/8, 192.0.2.1, "::ffff:198.51.100.7", 10.1.2.3/16]
routes:
  - {name: a, path_prefix: /a, upstream: "https://api.internal:8443/v1/", auth: none}
  - {name: b, path_prefix: /b, upstream: "unix:///run/app.sock", auth: none}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cfg.TrustedPrefixes()
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.0.2.1/32"),
		netip.MustParsePrefix("198.51.100.7/32"), // unmapped
		netip.MustParsePrefix("10.1.0.0/16"),     // masked
	}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("TrustedPrefixes() = %v, %v; want %v", got, err, want)
	}
	got[0] = netip.Prefix{}
	if again, _ := cfg.TrustedPrefixes(); again[0] != want[0] {
		t.Error("TrustedPrefixes hands out the config's own slice")
	}
	for i, want := range []struct{ scheme, host, path string }{
		{"https", "api.internal:8443", "/v1/"},
		{"unix", "", "/run/app.sock"},
	} {
		u := cfg.Routes[i].UpstreamURL()
		if u == nil || u.Scheme != want.scheme || u.Host != want.host || u.Path != want.path {
			t.Errorf("routes[%d].UpstreamURL() = %v, want %s://%s%s", i, u, want.scheme, want.host, want.path)
			continue
		}
		u.Host = "elsewhere"
		if cfg.Routes[i].UpstreamURL().Host == "elsewhere" {
			t.Errorf("routes[%d].UpstreamURL hands out the config's own URL", i)
		}
	}

	raw := &Config{TrustedProxies: []string{"10.0.0.0/8"}, Routes: []Route{{Upstream: "http://h"}}}
	raw.ApplyDefaults()
	if p, err := raw.TrustedPrefixes(); err == nil {
		t.Errorf("TrustedPrefixes of a config never validated: %v, nil; want an error", p)
	}
	if u := raw.Routes[0].UpstreamURL(); u != nil {
		t.Errorf("UpstreamURL of a config never validated: %v, want nil", u)
	}
}
