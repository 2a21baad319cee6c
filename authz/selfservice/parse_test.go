package selfservice

import (
	"strings"
	"testing"
)

var pathCases = []struct {
	path string
	want bool
}{
	{"/user", true},
	{"/user/keys/ci", true},
	{"/user/keys/c.i_-~", true},
	{"/user/keys/", true}, // served as 404
	{"/openapi.json", true},
	{"/", false},
	{"", false},
	{"user", false},
	{"//user", false},
	{"/user//keys", false},
	{"/user/./keys", false},
	{"/user/../keys", false},
	{"/user/..", false},
	{"/user/%6Beys", false},
	{"/user/keys/a%2Fb", false},
	{"/user/keys/a;b", false},
	{"/user\\keys", false},
	{"/user/keys/\x00", false},
	{"/user/kéys", false},
}

func TestPlainPath(t *testing.T) {
	for _, tt := range pathCases {
		if got := plainPath(tt.path); got != tt.want {
			t.Errorf("plainPath(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func FuzzPlainPath(f *testing.F) {
	for _, tt := range pathCases {
		f.Add(tt.path)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if !plainPath(p) {
			return
		}
		if p[0] != '/' || strings.ContainsAny(p, "%\\;?#\x00 ") || strings.Contains(p, "//") {
			t.Fatalf("plainPath accepted %q", p)
		}
		for _, seg := range strings.Split(p[1:], "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("plainPath accepted a dot segment: %q", p)
			}
		}
	})
}

var scopeCases = []struct {
	scope string
	want  []string
	ok    bool
}{
	{"", nil, true},
	{"read", []string{"read"}, true},
	{"read write", []string{"read", "write"}, true},
	{"a:b/c", []string{"a:b/c"}, true},
	{"read  write", nil, false},
	{" read", nil, false},
	{"read ", nil, false},
	{"read\twrite", nil, false},
	{`re"ad`, nil, false},
	{`re\ad`, nil, false},
	{"réad", nil, false},
}

func TestParseScope(t *testing.T) {
	for _, tt := range scopeCases {
		got, e := parseScope(tt.scope)
		if (e == nil) != tt.ok || strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("parseScope(%q) = %q, %v; want %q, ok %v", tt.scope, got, e, tt.want, tt.ok)
		}
		if e != nil && e.Code != "invalid_scope" {
			t.Errorf("parseScope(%q): error %q, want invalid_scope", tt.scope, e.Code)
		}
	}
}

func FuzzParseScope(f *testing.F) {
	for _, tt := range scopeCases {
		f.Add(tt.scope)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, e := parseScope(s)
		if e != nil {
			return
		}
		if strings.Join(got, " ") != s {
			t.Fatalf("parseScope(%q) = %q: does not join back", s, got)
		}
		for _, tok := range got {
			if tok == "" || strings.ContainsAny(tok, " \"\\") {
				t.Fatalf("parseScope(%q) gave token %q", s, tok)
			}
		}
	})
}

func TestValidRequestID(t *testing.T) {
	for id, want := range map[string]bool{
		"abc-1.2_3":                true,
		"":                         false,
		strings.Repeat("a", 129):   false,
		strings.Repeat("a", 128):   true,
		"a b":                      false,
		"a\nb":                     false,
		"<script>":                 false,
		"33ks3ayqnrfla7jh-1":       true,
		"de2ad4fb393c2f659d99d331": true,
	} {
		if got := validRequestID(id); got != want {
			t.Errorf("validRequestID(%q) = %v, want %v", id, got, want)
		}
	}
}
