package selfservice

import (
	"strings"
	"testing"
)

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
		t.Run(tt.scope, func(t *testing.T) {
			got, e := parseScope(tt.scope)
			if (e == nil) != tt.ok || strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("parseScope(%q) = %q, %v; want %q, ok %v", tt.scope, got, e, tt.want, tt.ok)
			}
			if e != nil && e.Code != "invalid_scope" {
				t.Errorf("parseScope(%q): error %q, want invalid_scope", tt.scope, e.Code)
			}
		})
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
