package proxy

import (
	"strings"
	"testing"
	"unicode/utf8"
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
		{"/a/..b", "/a/..b", "/a/..b"},
		{"/%7Euser", "/~user", "/~user"},
		{"/a.b/c%20d", "/a.b/c%20d", "/a.b/c d"},
		{"/%e2%82%ac", "/%E2%82%AC", "/\u20ac"},           // euro sign: valid, not a look-alike
		{"/%F0%9F%94%91", "/%F0%9F%94%91", "/\U0001F511"}, // four bytes
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
		// issue 16: what a decode-then-reparse, UTF-8 or Windows upstream reads differently
		{"/admin%3Fx", "", ""}, // encoded "?": a second parse sees a query
		{"/admin%3fx", "", ""},
		{"/admin%23x", "", ""},          // encoded "#": a fragment
		{"/%C0%AE%C0%AE/admin", "", ""}, // overlong "."
		{"/%c0%af", "", ""},             // overlong "/"
		{"/%E0%80%AE", "", ""},          // three-byte overlong "."
		{"/%C1%9C", "", ""},             // overlong "\"
		{"/admin%FF", "", ""},           // invalid UTF-8
		{"/admin%80", "", ""},           // lone continuation byte
		{"/caf%C3", "", ""},             // truncated sequence
		{"/caf%C3x", "", ""},
		{"/caf%C3%41", "", ""},                // lead byte without its continuation
		{"/%ED%A0%80", "", ""},                // encoded surrogate
		{"/%F4%90%80%80", "", ""},             // past U+10FFFF
		{"/%EF%BC%8E%EF%BC%8E/admin", "", ""}, // fullwidth full stops
		{"/a%EF%BC%8Fadmin", "", ""},          // fullwidth solidus
		{"/a%EF%BC%BCadmin", "", ""},          // fullwidth reverse solidus
		{"/%EF%BD%81dmin", "", ""},            // fullwidth "a": NFKC makes it /admin
		{"/a%E2%80%A4", "", ""},               // one dot leader
		{"/a%E2%80%A5/b", "", ""},             // two dot leader
		{"/a%E3%80%82", "", ""},               // ideographic full stop
		{"/a%EF%B9%92", "", ""},               // small full stop
		{"/a%E2%88%95b", "", ""},              // division slash
		{"/a%E2%81%84b", "", ""},              // fraction slash
		{"/a%E2%88%96b", "", ""},              // set minus
		{"/admin%C2%A0", "", ""},              // no-break space
		{"/ad%E2%80%8Bmin", "", ""},           // zero-width space
		{"/ad%E2%80%AEmin", "", ""},           // right-to-left override
		{"/ad%EF%BB%BFmin", "", ""},           // byte order mark
		{"/ad%C2%85min", "", ""},              // C1 control (NEL)
		{"/admin.", "", ""},                   // trailing dot, trimmed by Windows
		{"/admin./x", "", ""},
		{"/admin%2E", "", ""},
		{"/a/...", "", ""},
		{"/a/.../b", "", ""},
		{"/admin%20", "", ""}, // trailing space
		{"/admin%20/x", "", ""},
		{"/admin%20%2e", "", ""},
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
	for _, seed := range []string{"/", "/api/v1", "/%61pi", "/a/../b", "/%2e%2e/x", "/a%2Fb", "/a;b", "/caf%c3%a9", "//x", "/a%252e", "/x%", "/~%7E",
		"/a%3Fb", "/a%23b", "/%C0%AE%C0%AE/x", "/%E0%80%AE", "/a%FF", "/a%80", "/caf%C3", "/%ED%A0%80", "/%F4%90%80%80",
		"/%EF%BC%8E%EF%BC%8E/x", "/a%EF%BC%8Fb", "/%EF%BD%81", "/a%E2%80%A4", "/a%E2%88%95b", "/a%C2%A0", "/a%E2%80%8Bb",
		"/a.", "/a./b", "/a%2E", "/a/...", "/a%20", "/a%20/b", "/%e2%82%ac", "/%F0%9F%94%91"} {
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
		if !utf8.ValidString(decoded) {
			t.Fatalf("%q accepted as %q, which is not valid UTF-8", raw, escaped)
		}
		for _, seg := range strings.Split(decoded, "/")[1:] {
			if strings.HasSuffix(seg, ".") || strings.HasSuffix(seg, " ") {
				t.Fatalf("%q accepted with a segment ending in a dot or space: %q", raw, decoded)
			}
		}
		for _, r := range decoded {
			if r >= utf8.RuneSelf && lookAlike(r) {
				t.Fatalf("%q accepted holding the look-alike %U", raw, r)
			}
		}
		lower := strings.ToLower(escaped)
		for _, bad := range []string{"%2f", "%5c", "%25", "%00", "%2e", "%3b", "%3f", "%23", "%c0", "%c1"} {
			if strings.Contains(lower, bad) {
				t.Fatalf("%q accepted as %q containing %s", raw, escaped, bad)
			}
		}
	})
}
