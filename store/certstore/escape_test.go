package certstore

import (
	"strings"
	"testing"

	"github.com/keygate/keygate/store"
)

// FuzzEscape: every CertMagic key maps to a valid store key and back.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"certificates/ca/a.example/a.example.crt", "acme/ca/users/x+y@example.com/k {1}%.key", "%41", "%", "é/\x00/\x7f", "issue_cert_*.example.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		e := escape(key)
		if got := unescape(e); got != key {
			t.Fatalf("unescape(escape(%q)) = %q", key, got)
		}
		if len(e) > 0 && len(e) <= store.MaxKeyLen-len(filePrefix) {
			if err := store.CheckKey(filePrefix + e); err != nil {
				t.Fatalf("escape(%q) = %q is not a store key: %v", key, e, err)
			}
		}
		if strings.Count(e, "/") != strings.Count(key, "/") {
			t.Fatalf("escape(%q) = %q changed the path components", key, e)
		}
	})
}
