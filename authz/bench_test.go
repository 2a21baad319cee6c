package authz

import (
	"path/filepath"
	"testing"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/store/embedded"
)

func BenchmarkVerifyCacheHit(b *testing.B) {
	s, v := benchSetup(b)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verify(ctx, v, readOrders, client); err != nil {
			b.Fatal(err)
		}
	}
}

func benchSetup(b *testing.B) (*Service, []string) {
	st, err := embedded.Open(b.Context(), config.Embedded{Path: filepath.Join(b.TempDir(), "k.db")}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	s, err := New(b.Context(), authConfig(), st, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	if _, err := s.CreateUser(b.Context(), User{Name: "u", APISets: []string{"orders"}, Scopes: []string{"read"}}); err != nil {
		b.Fatal(err)
	}
	tok, _, err := s.CreateKey(b.Context(), "u", KeySpec{Handle: "k"})
	if err != nil {
		b.Fatal(err)
	}
	return s, bearer(tok)
}
