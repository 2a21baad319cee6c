package proxy

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/keygate/keygate/internal/rawhttp"
)

func TestParseHost(t *testing.T) {
	for _, tc := range []struct {
		host, match, normal string // match "" and normal "!" mean refused
	}{
		{"api.example.com", "api.example.com", "api.example.com"},
		{"api.example.com:8443", "api.example.com", "api.example.com:8443"},
		{"API.Example.COM.:443", "api.example.com", "api.example.com:443"},
		{"api.example.com.", "api.example.com", "api.example.com"},
		{"localhost", "localhost", "localhost"},
		{"my_host-1", "my_host-1", "my_host-1"},
		{"192.0.2.1:80", "192.0.2.1", "192.0.2.1:80"},
		{"[::1]", "[::1]", "[::1]"},
		{"[2001:db8::1]:8080", "[2001:db8::1]", "[2001:db8::1]:8080"},
		{"", "", ""},
		// refused
		{"internal.example..", "", "!"},
		{"internal.example:80:80", "", "!"},
		{"[not-an-ip]", "", "!"},
		{"bad%2ehost", "", "!"},
		{"a..b", "", "!"},
		{".a", "", "!"},
		{".", "", "!"},
		{":80", "", "!"},
		{"a:", "", "!"},
		{"a:99999", "", "!"},
		{"a:123456", "", "!"},
		{"a:8o", "", "!"},
		{"[::1", "", "!"},
		{"[::1]x", "", "!"},
		{"[::1]:", "", "!"},
		{"[192.0.2.1]", "", "!"},
		{"[fe80::1%25eth0]", "", "!"},
		{"a b", "", "!"},
		{"a/b", "", "!"},
		{"a@b", "", "!"},
		{"caf\u00e9.example", "", "!"},
		{fmt.Sprintf("%064d.example", 0), "", "!"},
	} {
		t.Run(tc.host, func(t *testing.T) {
			match, normal, ok := parseHost(tc.host)
			if tc.normal == "!" {
				if ok {
					t.Errorf("parseHost(%q) = %q, %q; want refused", tc.host, match, normal)
				}
				return
			}
			if !ok || match != tc.match || normal != tc.normal {
				t.Errorf("parseHost(%q) = %q, %q, %v; want %q, %q", tc.host, match, normal, ok, tc.match, tc.normal)
			}
		})
	}
}

func TestParseHostAllocations(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _, _, _ = parseHost("api.example.com:8443") }); n != 0 {
		t.Errorf("parseHost of a normal host allocated %v times, want 0", n)
	}
}

// TestHostHeader (issue 16.4): a Host that is not a name or IP literal
// with an optional port is refused before any route is matched, instead of
// falling through a host-specific route to the catch-all one; the
// upstream's X-Forwarded-Host is the normalised host.
func TestHostHeader(t *testing.T) {
	internal, public := newUpstream(t, "internal"), newUpstream(t, "public")
	gw := newGateway(t, fmt.Sprintf(`
routes:
  - {name: internal, host: internal.example, path_prefix: /, upstream: %s, auth: none}
  - {name: public, path_prefix: /, upstream: %s, auth: none}
`, internal.URL, public.URL), Options{})
	addr := gw.Listener.Addr().String()
	for _, tc := range []struct {
		host     string
		status   int
		upstream string
		xfh      string
	}{
		{"internal.example..", 400, "", ""},
		{"internal.example:80:80", 400, "", ""},
		{"[not-an-ip]", 400, "", ""},
		{"bad%2ehost", 400, "", ""},
		{"internal%2eexample", 400, "", ""},
		{"internal.example:99999", 400, "", ""},
		{"internal.example", 200, "internal", "internal.example"},
		{"Internal.Example.:8080", 200, "internal", "internal.example:8080"},
		{"other.example", 200, "public", "other.example"},
		{"[::1]:80", 200, "public", "[::1]:80"},
	} {
		t.Run(tc.host, func(t *testing.T) {
			before := internal.hits.Load() + public.hits.Load()
			resp, body := rawHost(t, addr, tc.host)
			if resp.StatusCode != tc.status {
				t.Fatalf("Host %q: status %d, want %d: %s", tc.host, resp.StatusCode, tc.status, body)
			}
			if tc.status != 200 {
				if internal.hits.Load()+public.hits.Load() != before {
					t.Errorf("Host %q: refused but proxied", tc.host)
				}
				return
			}
			if got := resp.Header.Get("X-Upstream"); got != tc.upstream {
				t.Errorf("Host %q: answered by %q, want %q", tc.host, got, tc.upstream)
			}
			if got := echoed(t, body).Headers["X-Forwarded-Host"]; got != tc.xfh {
				t.Errorf("Host %q: upstream X-Forwarded-Host %q, want %q", tc.host, got, tc.xfh)
			}
		})
	}
}

// rawHost sends GET / with the given Host header, byte for byte.
func rawHost(t *testing.T, addr, host string) (*http.Response, string) {
	t.Helper()
	return rawhttp.Exchange(t, addr, "GET / HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
}
