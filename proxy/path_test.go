package proxy

import (
	"strings"
	"testing"
)

func TestCanonicalPath(t *testing.T) {
	tests := []struct {
		raw     string
		escaped string // "" means refused
		decoded string
	}{
		{"/", "/", "/"},
		{"/api", "/api", "/api"},
		{"/api/", "/api/", "/api/"},
		{"/api/v1/items", "/api/v1/items", "/api/v1/items"},
		{"/%61pi", "/api", "/api"},
		{"/caf%c3%a9", "/caf%C3%A9", "/caf\u00e9"},
		{"/a%20b", "/a%20b", "/a b"},
		{"/a%3Db", "/a%3Db", "/a=b"},
		{"/a=b:c@d!$&'()*+,", "/a=b:c@d!$&'()*+,", "/a=b:c@d!$&'()*+,"},
		{"/.well-known/x", "/.well-known/x", "/.well-known/x"},
		{"/a/.../b", "/a/.../b", "/a/.../b"},
		{"/a/..b", "/a/..b", "/a/..b"},
		{"/%7Euser", "/~user", "/~user"},
		// refused
		{"", "", ""},
		{"*", "", ""},
		{"api", "", ""},
		{"/a/../admin", "", ""},
		{"/a/..", "", ""},
		{"/..", "", ""},
		{"/./admin", "", ""},
		{"/admin/.", "", ""},
		{"/%2e%2e/admin", "", ""},
		{"/%2E%2e/admin", "", ""},
		{"/.%2e/admin", "", ""},
		{"/%2e/admin", "", ""},
		{"/admin%2Fx", "", ""},
		{"/admin%2fx", "", ""},
		{"/admin%5Cx", "", ""},
		{"/admin\\x", "", ""},
		{"//admin", "", ""},
		{"/a//b", "", ""},
		{"/admin;jsessionid=1", "", ""},
		{"/admin%3Bx", "", ""},
		{"/admin%00", "", ""},
		{"/admin%0a", "", ""},
		{"/admin%7F", "", ""},
		{"/admin%252e%252e", "", ""},
		{"/admin%", "", ""},
		{"/admin%2", "", ""},
		{"/admin%zz", "", ""},
		{"/adm\x00in", "", ""},
		{"/adm in", "", ""},
		{"/caf\u00e9", "", ""},
		{"/a?b", "", ""},
		{"/a#b", "", ""},
	}
	for _, tt := range tests {
		escaped, decoded, err := canonicalPath(tt.raw)
		if tt.escaped == "" {
			if err == nil {
				t.Errorf("canonicalPath(%q) = %q, %q; want refused", tt.raw, escaped, decoded)
			}
			continue
		}
		if err != nil || escaped != tt.escaped || decoded != tt.decoded {
			t.Errorf("canonicalPath(%q) = %q, %q, %v; want %q, %q", tt.raw, escaped, decoded, err, tt.escaped, tt.decoded)
		}
	}
}

func TestCanonicalPathAllocations(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		_, _, _ = canonicalPath("/api/v1/items/42")
	})
	if allocs != 0 {
		t.Errorf("canonicalPath of a canonical path allocated %v times, want 0", allocs)
	}
}

// FuzzCanonicalPath checks the invariants the proxy relies on: an accepted
// path is a fixed point (canonicalising it again changes nothing), and it
// holds nothing a second decoder could read as another path.
func FuzzCanonicalPath(f *testing.F) {
	for _, seed := range []string{"/", "/api/v1", "/%61pi", "/a/../b", "/%2e%2e/x", "/a%2Fb", "/a;b", "/caf%c3%a9", "//x", "/a%252e", "/x%", "/~%7E"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		escaped, decoded, err := canonicalPath(raw)
		if err != nil {
			return
		}
		again, decodedAgain, err := canonicalPath(escaped)
		if err != nil || again != escaped || decodedAgain != decoded {
			t.Fatalf("not a fixed point: %q -> %q -> %q, %v", raw, escaped, again, err)
		}
		for _, seg := range strings.Split(decoded, "/")[1:] {
			if seg == "." || seg == ".." {
				t.Fatalf("%q decodes to a dot segment: %q", raw, decoded)
			}
		}
		if strings.Contains(escaped, "//") || strings.ContainsAny(decoded, "\\;\x00\r\n") {
			t.Fatalf("%q accepted as %q (%q)", raw, escaped, decoded)
		}
		lower := strings.ToLower(escaped)
		for _, bad := range []string{"%2f", "%5c", "%25", "%00", "%2e", "%3b"} {
			if strings.Contains(lower, bad) {
				t.Fatalf("%q accepted as %q containing %s", raw, escaped, bad)
			}
		}
	})
}
