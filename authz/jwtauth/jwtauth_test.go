package jwtauth

import (
	"strings"
	"testing"
)

var shapeCases = []struct {
	token string
	want  bool
}{
	{"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln", true},
	{"a.b.c", true},
	{"a-_.b_-.c-_", true},
	{"a.b.", false},    // alg none's empty signature part
	{".b.c", false},    // empty header
	{"a..c", false},    // empty payload
	{"a.b", false},     // two parts
	{"a.b.c.d", false}, // JWE-like or four parts
	{"a.b.c=", false},  // padding is not base64url of a JWS
	{"a+b.c.d", false},
	{"a/b.c.d", false},
	{"", false},
	{"kgl_" + strings.Repeat("A", 49), false},
}

func TestLooksLikeJWT(t *testing.T) {
	for _, tt := range shapeCases {
		if got := LooksLikeJWT(tt.token); got != tt.want {
			t.Errorf("LooksLikeJWT(%q) = %v, want %v", tt.token, got, tt.want)
		}
	}
}

// FuzzLooksLikeJWT: whatever it accepts is three non-empty base64url
// parts.
func FuzzLooksLikeJWT(f *testing.F) {
	for _, tt := range shapeCases {
		f.Add(tt.token)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !LooksLikeJWT(s) {
			return
		}
		parts := strings.Split(s, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted %q: %d parts", s, len(parts))
		}
		for _, p := range parts {
			if p == "" || strings.Trim(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
				t.Fatalf("accepted %q: part %q", s, p)
			}
		}
	})
}
