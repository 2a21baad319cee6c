package httpkit

import (
	"strings"
	"testing"
)

var pathCases = []struct {
	path, also string
	want       bool
}{
	{"/user", "", true},
	{"/user/keys/ci", "", true},
	{"/user/keys/c.i_-~", "", true},
	{"/user/keys/", "", true}, // served as 404
	{"/openapi.json", "", true},
	{"/", "", false},
	{"", "", false},
	{"user", "", false},
	{"//user", "", false},
	{"/user//keys", "", false},
	{"/user/./keys", "", false},
	{"/user/../keys", "", false},
	{"/user/..", "", false},
	{"/user/%6Beys", "", false},
	{"/user/keys/a%2Fb", "", false},
	{"/user/keys/a;b", "", false},
	{"/user\\keys", "", false},
	{"/user/keys/\x00", "", false},
	{"/user/kéys", "", false},
	{"/admin/users/a@example.com", "", false},
	{"/admin/users/a@example.com", "@", true},
	{"/admin/users/a%40example.com", "@", false},
	{"/admin/users/@/..", "@", false},
}

func TestPlainPath(t *testing.T) {
	for _, tt := range pathCases {
		t.Run(tt.path+" also "+tt.also, func(t *testing.T) {
			if got := PlainPath(tt.path, tt.also); got != tt.want {
				t.Errorf("PlainPath(%q, %q) = %v, want %v", tt.path, tt.also, got, tt.want)
			}
		})
	}
}

func FuzzPlainPath(f *testing.F) {
	for _, tt := range pathCases {
		f.Add(tt.path, tt.also == "@")
	}
	f.Fuzz(func(t *testing.T, p string, at bool) {
		also := ""
		if at {
			also = "@"
		}
		if !PlainPath(p, also) {
			return
		}
		if p[0] != '/' || strings.ContainsAny(p, "%\\;?#\x00 ") || strings.Contains(p, "//") {
			t.Fatalf("PlainPath(%q, %q) accepted it", p, also)
		}
		if !at && strings.Contains(p, "@") {
			t.Fatalf("PlainPath(%q, \"\") accepted an @", p)
		}
		for _, seg := range strings.Split(p[1:], "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("PlainPath accepted a dot segment: %q", p)
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
		if got := ValidRequestID(id); got != want {
			t.Errorf("ValidRequestID(%q) = %v, want %v", id, got, want)
		}
	}
}
