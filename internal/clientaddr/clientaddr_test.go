package clientaddr

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestOf(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
		proxy  bool
	}{
		{"untrusted peer: its X-Forwarded-For is not believed", "203.0.113.9:4000", []string{"1.2.3.4"}, "203.0.113.9", false},
		{"trusted peer names the client", "10.0.0.2:4000", []string{"198.51.100.7"}, "198.51.100.7", true},
		{"right-most untrusted entry wins", "10.0.0.2:4000", []string{"6.6.6.6, 198.51.100.7, 10.0.0.5"}, "198.51.100.7", true},
		{"entries over several headers", "10.0.0.2:4000", []string{"6.6.6.6", "198.51.100.7"}, "198.51.100.7", true},
		{"a garbled entry ends what is believed", "10.0.0.2:4000", []string{"6.6.6.6, garbage, 10.0.0.5"}, "10.0.0.5", true},
		{"trusted peer without the header", "10.0.0.2:4000", nil, "10.0.0.2", true},
		{"IPv4-mapped IPv6 peer", "[::ffff:203.0.113.9]:4000", nil, "203.0.113.9", false},
		{"IPv6 peer", "[2001:db8::1]:4000", nil, "2001:db8::1", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := Of(r, trusted); got.String() != tt.want {
			t.Errorf("%s: Of = %s, want %s", tt.name, got, tt.want)
		}
		if got := FromTrustedProxy(r, trusted); got != tt.proxy {
			t.Errorf("%s: FromTrustedProxy = %v, want %v", tt.name, got, tt.proxy)
		}
	}
}
